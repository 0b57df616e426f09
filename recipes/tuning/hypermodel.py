"""A named recipe as a keras-tuner ``HyperModel``."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict
from pathlib import Path

import keras
import keras_tuner

import architectures
from architectures import InputTooSmallError
from callbacks import build_callbacks
from recipes import tasks
from recipes.catalog import Recipe
from recipes.errors import ConfigError
from recipes.tasks import UserData
from recipes.training import OPTIMIZERS, compile_model
from recipes.training.precision import dtype_policy
from recipes.tuning.space import training_space

TRIAL_CALLBACKS = ("terminate_on_nan", "early_stopping")  # the recipe's, where it has them
DATA_CACHE_SIZE = 2  # pipelines kept for (batch size, augmentation) combinations


def applied_settings(optimizer) -> dict:
    """What a compiled optimizer really applies, as the trial records keep it."""
    return {"optimizer_class": type(optimizer).__name__,
            "applied_weight_decay": float(getattr(optimizer, "weight_decay", None) or 0.0)}


class RecipeHyperModel(keras_tuner.HyperModel):
    """A named recipe as a keras-tuner ``HyperModel``: ``build`` builds the registered
    architecture with searched keyword arguments, ``fit`` compiles and trains it with searched
    training settings (so the batch size really changes per trial)."""

    def __init__(self, recipe: Recipe, *, data_dir=None, download: bool = True,
                 tune_training: bool = True, user_data: UserData | None = None):
        super().__init__(name=recipe.name)
        if recipe.optimizer not in OPTIMIZERS:
            raise ConfigError(f"recipe optimizer {recipe.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        self.recipe = recipe
        self.task = tasks.get(recipe.task)
        self.architecture_space = architectures.search_space(recipe.architecture)
        self.tune_training = tune_training
        self.data_dir, self.download, self.user_data = data_dir, download, user_data
        self._data = OrderedDict()
        self._image_classification = None
        self.applied: dict = {}  # what the running trial's optimizer really applies (tuners record it)

    def declare_hyperparameters(self, hp) -> None:
        self.trial_recipe(hp)

    def trial_recipe(self, hp) -> Recipe:
        """The recipe a trial with these hyperparameters trains."""
        fields = {}
        if self.tune_training:
            fields = training_space(hp, self.recipe, augment=self._takes_image_augmentation())
        architecture_kwargs = {**self.recipe.architecture_kwargs, **self.architecture_space(hp)}
        return dataclasses.replace(self.recipe, architecture_kwargs=architecture_kwargs, **fields)

    def _takes_image_augmentation(self) -> bool:
        if self._image_classification is None:
            self._image_classification = (self.recipe.task == "classification"
                                          and len(self.data_for(self.recipe).info.input_shape) == 3)
        return self._image_classification

    def data_for(self, recipe: Recipe):
        """Pipelines for this batch size and augmentation; the most recent few are kept."""
        key = (recipe.batch_size, json.dumps(recipe.augmentation, sort_keys=True))
        if key not in self._data:
            self._data[key] = self.load(recipe)
            while len(self._data) > DATA_CACHE_SIZE:
                self._data.popitem(last=False)
        self._data.move_to_end(key)
        return self._data[key]

    def load(self, recipe: Recipe):
        """The data a trial of ``recipe`` trains on: the user's own, or the recipe's dataset."""
        if self.user_data is not None:
            return self.task.load_user_data(recipe, self.user_data)
        return self.task.load(recipe, data_dir=self.data_dir, download=self.download)

    def build(self, hp) -> keras.Model:
        recipe = self.trial_recipe(hp)
        keras.utils.set_random_seed(recipe.seed)
        try:
            with dtype_policy(recipe.precision):
                return self.task.build(recipe, self.data_for(recipe))
        except (InputTooSmallError, ValueError) as error:
            raise keras_tuner.errors.FailedTrialError(f"could not build the model: {error}") from error

    def fit(self, hp, model, *args, callbacks=(), epochs=1, initial_epoch=0, verbose=0, **kwargs):
        recipe = self.trial_recipe(hp)
        data = self.data_for(recipe)
        with model.distribute_strategy.scope():  # keras-tuner's distribution_strategy, where it has one
            compile_model(model, data, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate,
                          schedule=recipe.schedule, weight_decay=recipe.weight_decay,
                          optimizer_options=recipe.optimizer_options, metrics=recipe.metrics,
                          epochs=max(1, epochs - initial_epoch),
                          **{"loss": recipe.loss, **self.task.compile_options(recipe, data)})
        self.applied = applied_settings(model.optimizer)
        spec = {name: recipe.callbacks[name] for name in TRIAL_CALLBACKS if name in recipe.callbacks}
        spec.setdefault("terminate_on_nan", {})
        history = model.fit(data.train, validation_data=data.validation, epochs=epochs, initial_epoch=initial_epoch,
                            callbacks=[*callbacks, *build_callbacks(spec, Path.cwd())],
                            verbose=verbose, shuffle=False)
        for epoch, loss in enumerate(history.history.get("loss", []), start=initial_epoch + 1):
            if not math.isfinite(loss):
                raise keras_tuner.errors.FailedTrialError(
                    f"diverged: the training loss became {loss} in epoch {epoch} "
                    f"(optimizer {recipe.optimizer}, learning rate {recipe.learning_rate:.3g})")
        return history
