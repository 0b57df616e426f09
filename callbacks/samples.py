"""A picture of what a generator makes, saved as training goes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from callbacks.pictures import plot_image_grid


class GeneratedSamples(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), saves a grid of ``count`` images that the
    model generates from the same fixed noise, as ``<folder>/samples_epoch_NNN.png``.

    The model is called on noise of shape (count, ``model.latent_dim``) and returns images in
    ``value_range`` (the DCGAN's tanh gives [-1, 1]). Fixed noise shows one set of samples
    change over training.
    """

    def __init__(self, folder, every: int = 5, count: int = 64, seed: int = 0, value_range=(-1.0, 1.0)):
        super().__init__()
        self.folder = Path(folder)
        self.every = every
        self.count = count
        self.seed = seed
        self.value_range = value_range
        self.written: list[Path] = []
        self._last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if (epoch + 1) % self.every == 0:
            self._save(epoch)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and (self._last_epoch + 1) % self.every:
            self._save(self._last_epoch)

    def _save(self, epoch):
        noise = np.random.default_rng(self.seed).normal(size=(self.count, self.model.latent_dim)).astype("float32")
        images = keras.ops.convert_to_numpy(self.model(noise, training=False))
        path = plot_image_grid(images, self.folder / f"samples_epoch_{epoch + 1:03d}.png", dpi=80,
                               title=f"generated after epoch {epoch + 1}", value_range=self.value_range)
        if path is not None:
            self.written.append(path)
