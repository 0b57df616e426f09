"""Sentence classification on raw strings: ``TextVectorization`` inside the model, so the export
takes the text a client has."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import architectures
from recipes import data as datasets
from recipes.data.text import load_mr_polarity, stratified_split
from recipes.saved_models import export as export_model
from recipes.tasks import Task, register_task


@register_task
class TextClassification(Task):
    """Raw sentences -> class probabilities (``text -> positive_probability, probabilities``) on
    the MR corpus, split 80/10/10 with the label proportions kept (``TextClassificationOptions``)."""

    name = "text_classification"
    class_names = ("negative", "positive")

    def load(self, recipe, *, data_dir=None, download=True):
        sentences, labels, source = load_mr_polarity(data_dir, download)
        train, validation, test = stratified_split(labels, (0.8, 0.1, 0.1), seed=recipe.seed)
        if not recipe.validation_split:  # train on train + validation, as recipes.tune retrains
            train, validation = np.concatenate([train, validation]), validation[:0]
        train, test = train[:recipe.train_limit], test[:recipe.test_limit]
        arrays = {split: (sentences[index].astype(str), labels[index])
                  for split, index in (("train", train), ("validation", validation), ("test", test))}
        info = datasets.DatasetInfo(
            name=recipe.dataset, input_shape=(), num_classes=2, class_names=self.class_names,
            input_name="text", value_range=None, source=source, num_train=len(train),
            num_validation=len(validation), num_test=len(test))
        return datasets.Data(
            train=datasets.batched(*arrays["train"], recipe.batch_size, shuffle_seed=recipe.seed),
            validation=datasets.batched(*arrays["validation"], recipe.batch_size) if len(validation) else None,
            test=datasets.batched(*arrays["test"], recipe.batch_size), info=info, arrays=arrays)

    def build(self, recipe, data):
        options = recipe.task_options
        vectorizer = keras.layers.TextVectorization(
            max_tokens=options.max_tokens, standardize="lower", split="whitespace",
            output_sequence_length=options.sequence_length, name="vectorizer")
        vectorizer.adapt(data.arrays["train"][0])
        backbone = architectures.build(
            recipe.architecture, input_shape=(None,), num_classes=data.info.num_classes,
            vocabulary_size=vectorizer.vocabulary_size(),
            **{"max_length": options.sequence_length, **recipe.architecture_kwargs})
        text = keras.Input((), dtype="string", name="text")
        return keras.Model(text, backbone(vectorizer(text)), name=f"{recipe.name}_model")

    def export(self, recipe, model, data, *, export_dir, metadata, name):
        def serve(text):
            probabilities = model(text, training=False)
            return {"positive_probability": probabilities[:, 1], "probabilities": probabilities}

        return export_model(model, name, export_dir=export_dir, endpoint=serve,
                            input_signature=[tf.TensorSpec((None,), tf.string, name="text")],
                            metadata={**metadata, "class_names": list(self.class_names)})
