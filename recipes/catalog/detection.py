"""Object detection on generated canvases of Fashion-MNIST items: the single-shot detector, measured
in its evaluation against the region-based baseline (``recipes.tasks.detection``)."""

from callbacks.defaults import without
from recipes.catalog._recipe import Recipe, register_recipe
from recipes.tasks.options import DetectionOptions

register_recipe(Recipe(
    name="fashion_mnist_detection",
    dataset="fashion_mnist_detection",
    architecture="ssd_detector",
    task="detection",
    description="SSD-style single-shot detector (3 feature levels, 6 anchors a cell, focal + Huber loss) on "
                "96x96 canvases of 1-5 Fashion-MNIST items, against a sliding-window + CNN + NMS baseline.",
    expected={"map_50": 0.59, "map_50_95": 0.40},  # benchmarks/results/detection.json
    task_options=DetectionOptions(),
    loss=None,  # the task's DetectionLoss
    metrics=(),
    learning_rate=3e-3,
    schedule="cosine",
    batch_size=32,
    epochs=12,
    callbacks=without("early_stopping"),
    plots=(),
))
