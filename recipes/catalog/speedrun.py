"""Speedruns: Fashion-MNIST to 94% in a sixth of the compute of ``fashion_mnist_resnet20``, with
what fast-training work found (airbench, Jordan 2024; hlb-CIFAR10, Balsam 2023), each trick a
named option of the pieces rather than code of its own here:

- a narrow airbench network (``architectures.speedrun``, ``filters``) whose first convolution
  is set to whiten the images' patches and frozen (``task_options.whitening_init``),
- label smoothing (``task_options.label_smoothing``),
- flip test-time augmentation at evaluation (``task_options.test_time_flip``),
- an exponential moving average of the weights, which the model keeps at the end of training
  (Keras's ``use_ema`` and ``ema_momentum``, through ``optimizer_options``),
- a short triangular schedule, linear warm-up then linear decay to zero (``schedule="warmup_linear"``),
- Nesterov SGD with decoupled weight decay, large batches, flip and pad-and-crop augmentation.

``benchmarks/speedrun.py`` measures seconds and FLOPs to 92% and 94% over seeds, against
``fashion_mnist_resnet20``'s per-epoch curve.
"""

from callbacks.defaults import without
from recipes.catalog._recipe import Recipe, register_recipe

# Every epoch runs to the end of the schedule; nothing selects on validation, and the per-epoch
# writers (TensorBoard, best checkpoint) cost seconds that a speedrun counts.
_CALLBACKS = without("early_stopping", "checkpoint", "tensorboard")

SPEEDRUN = dict(
    dataset="fashion_mnist",
    architecture="airbench",
    task_options={"label_smoothing": 0.2, "test_time_flip": True, "whitening_init": True},
    optimizer="nesterov",
    learning_rate=0.2,
    weight_decay=5e-3,
    schedule="warmup_linear",
    batch_size=512,
    augmentation={"crop_padding": 2, "flip": "horizontal"},
    callbacks=_CALLBACKS,
)

register_recipe(Recipe(
    name="fashion_mnist_speedrun",
    description="airbench-style net (32-64-128), whitening init, label smoothing, EMA, flip TTA, 16 epochs.",
    expected={"accuracy": 0.94},
    architecture_kwargs={"filters": (32, 64, 128), "activation": "relu"},
    optimizer_options={"use_ema": True, "ema_momentum": 0.99},
    epochs=16,
    **SPEEDRUN,
))
