"""Training: optimizers and schedules by name, the one generic ``compile_and_fit``, and transfer
learning on top of it."""

from recipes.training.fit import Result, compile_and_fit, compile_model, discard_backup
from recipes.training.optimizers import OPTIMIZERS, SCHEDULES, learning_rate_schedule, make_optimizer

__all__ = ["OPTIMIZERS", "SCHEDULES", "Result", "compile_and_fit", "compile_model", "discard_backup",
           "learning_rate_schedule", "make_optimizer"]
