"""Tasks: what differs between kinds of recipe (data, model wrapping, measurement, export).

One module per task: ``classification``, ``text_classification``, ``language_model``,
``seq2seq``, ``forecasting``, ``tagging``, ``reconstruction``, ``vae``, ``gan``,
``super_resolution``, ``segmentation``, ``function_fit``, ``reinforcement``. Training is the same for all of
them (``recipes.training.compile_and_fit``; the reinforcement task collects its data inside its model's
``train_step``). Importing this package does not import Keras.
"""

from recipes.tasks._base import RunContext, Task, UserData, get, names, register_task
from recipes.tasks.options import options_class, options_for, task_options

OUTPUT_NAME = "probabilities"

__all__ = ["OUTPUT_NAME", "RunContext", "Task", "UserData", "get", "names", "options_class", "options_for",
           "register_task", "task_options"]
