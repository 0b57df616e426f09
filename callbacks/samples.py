"""A picture of what a generator makes, saved as training goes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from callbacks.plots import _skip, matplotlib_available


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
        if not matplotlib_available():
            return _skip("generated samples")
        from matplotlib.figure import Figure

        noise = np.random.default_rng(self.seed).normal(size=(self.count, self.model.latent_dim)).astype("float32")
        images = keras.ops.convert_to_numpy(self.model(noise, training=False))
        side = int(np.ceil(np.sqrt(self.count)))
        figure = Figure(figsize=(side, side + 0.3), dpi=80)
        for index, axes in enumerate(figure.subplots(side, side, squeeze=False).reshape(-1)):
            axes.set_axis_off()
            if index < len(images):
                axes.imshow(images[index][..., 0], cmap="gray", vmin=self.value_range[0], vmax=self.value_range[1])
        figure.suptitle(f"generated after epoch {epoch + 1}", fontsize=9)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"samples_epoch_{epoch + 1:03d}.png"
        figure.savefig(path)
        self.written.append(path)
