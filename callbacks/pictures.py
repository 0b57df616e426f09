"""Pictures of images a model made: rows of reconstructions, grids of samples, 2-D latent maps.
matplotlib is optional; without it these log what to install and return None."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callbacks.plots import new_figure, save_figure


def plot_image_rows(rows: dict, path, *, title="") -> Path | None:
    """One labelled row per entry of ``rows`` (name -> images in [0, 1])."""
    count = max(len(images) for images in rows.values())
    figure = new_figure("image rows", figsize=(1.2 * count, 1.3 * len(rows) + 0.4), dpi=100)
    if figure is None:
        return None
    grid = figure.subplots(len(rows), count, squeeze=False)
    for row, (label, images) in enumerate(rows.items()):
        for column in range(count):
            axes = grid[row, column]
            axes.set_axis_off()
            if column < len(images):
                axes.imshow(np.clip(images[column][..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
        grid[row, 0].set_title(label, fontsize=8, loc="left")
    figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)


def plot_image_grid(images, path, *, title="", value_range=(0.0, 1.0), dpi=100) -> Path | None:
    """A square grid of single-channel images."""
    side = int(np.ceil(np.sqrt(len(images))))
    figure = new_figure("image grid", figsize=(side, side + 0.3), dpi=dpi)
    if figure is None:
        return None
    grid = figure.subplots(side, side, squeeze=False)
    for index, axes in enumerate(grid.reshape(-1)):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(images[index][..., 0], cmap="gray", vmin=value_range[0], vmax=value_range[1])
    figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)


def plot_latent_map(means, labels, class_names, path, *, title="") -> Path | None:
    """2-D latent means, one colour per class."""
    figure = new_figure("latent map", figsize=(7, 6), dpi=100)
    if figure is None:
        return None
    axes = figure.add_subplot()
    for index, name in enumerate(class_names):
        chosen = labels == index
        axes.scatter(means[chosen, 0], means[chosen, 1], s=2, alpha=0.6, label=name, color=f"C{index % 10}")
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    axes.legend(fontsize=7, markerscale=4)
    axes.set_title(title, fontsize=9)
    return save_figure(figure, path)
