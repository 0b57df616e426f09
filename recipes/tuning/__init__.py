"""keras-tuner searches over the registered builders and the named recipes.

    >>> found = recipes.tune("fashion_mnist_cnn", tuner="hyperband", max_epochs=6)
    >>> found.best_hyperparameters, found.test_metrics, found.export_path   # saved_models/fashion_mnist_cnn_tuned/1
    >>> print(found.table())

A trial is a recipe with some fields replaced: the architecture's search space (declared next to
its builder, ``architectures.search_space``) gives ``architecture_kwargs``, and
``training_space`` (``space``) gives the optimizer, learning rate, batch size, weight decay and
augmentation strength. Every trial trains through ``compile_model`` and Keras's ``fit``
(``hypermodel``), like ``recipes.run``, and the winner is retrained by ``recipes.run`` itself on
train + validation, evaluated on the untouched test split and exported (``search``) under a name
of its own, ``<recipe>_tuned`` (or ``export_name``), so it never replaces the recipe's served model.

Searches live in ``<directory>/<project_name>/``; calling ``tune`` again with ``overwrite=False``
continues one (a trial cut short by a crash runs again under its own ID). Setting
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` makes a process
keras-tuner's chief (the oracle) or a worker; ``launch_distributed`` starts both on one machine
(``distributed``). ``tuners`` adds progress lines and per-trial records to keras-tuner's tuners;
``results`` holds what a search found.
"""

from recipes.errors import TuningError
from recipes.tuning.distributed import free_port, launch_distributed
from recipes.tuning.hypermodel import RecipeHyperModel
from recipes.tuning.results import TrialRecord, TuneResult, failure_reason
from recipes.tuning.search import TUNERS, retrain_best, tune
from recipes.tuning.space import scaled_augmentation, training_space

__all__ = ["TUNERS", "RecipeHyperModel", "TrialRecord", "TuneResult", "TuningError", "failure_reason", "free_port",
           "launch_distributed", "retrain_best", "scaled_augmentation", "training_space", "tune"]
