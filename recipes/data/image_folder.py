"""A folder of class subfolders of images, with ``keras.utils.image_dataset_from_directory``'s
semantics: the class names are the subfolders' names in sorted order, the files are the ones
ending in .bmp, .gif, .jpeg, .jpg or .png, images are decoded with ``tf.io.decode_image`` to
the channels asked for and resized bilinearly.

    photos/
      cat/  a.png b.jpg ...
      dog/  c.png ...

A folder that holds ``train/`` and ``test/`` (and optionally ``validation/``), each with the class
subfolders, gives those splits; otherwise the validation split is carved by seed and there is no
test split. Every file is decoded once, before training, so a bad one is found and named early;
the images are kept in memory (for a folder larger than memory, pass a ``tf.data`` pipeline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.errors import CorruptDatasetError, DatasetNotFoundError, InputError

log = logging.getLogger("keras_recipes")

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
BAD_FILES = ("stop", "skip")
SPLIT_FOLDERS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}


@dataclass(frozen=True)
class ImageFolder:
    """The decoded images of one folder, split as the folder says."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "train", and "validation"/"test" where the folder has them
    class_names: tuple[str, ...]
    resized_to: tuple[int, int] | None  # the size every image was resized to, if it was
    source: str


def is_image_folder(path: Path) -> bool:
    return path.is_dir() and any(child.is_dir() for child in path.iterdir())


def read_image_folder(path, *, image_size=None, color_mode: str | None = None, bad_files: str = "stop") -> ImageFolder:
    """The images under ``path`` as uint8 arrays (float32 where they were resized) and integer labels.

    ``image_size`` (height, width) resizes every image; without it all images must have one size.
    ``color_mode``: "grayscale", "rgb", "rgba", or None for grayscale when every image is grey
    and RGB otherwise. ``bad_files``: "stop" (an unreadable image stops with its name) or
    "skip" (it is left out, and the log names it).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(f"{path} is not a folder; give a folder of class subfolders of images")
    if bad_files not in BAD_FILES:
        raise InputError(f"bad_files must be one of {', '.join(BAD_FILES)}. Received: bad_files={bad_files!r}")
    if color_mode is not None and color_mode not in COLOR_MODES:
        raise InputError(f"color_mode must be one of {', '.join(COLOR_MODES)} or None. Received: {color_mode!r}")
    split_roots = _split_roots(path)
    class_names = _class_names(split_roots)
    files = {split: _files(root, class_names) for split, root in split_roots.items()}
    images = {split: _decode_all(found, color_mode, bad_files) for split, found in files.items()}
    channels = COLOR_MODES[color_mode] if color_mode else (
        1 if all(image.shape[-1] in (1, 2) for part in images.values() for image, _, _ in part) else 3)
    size = tuple(image_size) if image_size is not None else None
    if size is None:
        sizes = {image.shape[:2]: file for part in images.values() for image, _, file in part}
        if len(sizes) > 1:
            (first, a), (second, b) = list(sizes.items())[:2]
            raise InputError(
                f"{path}: the images have different sizes ({a} is {first[0]}x{first[1]}, {b} is "
                f"{second[0]}x{second[1]}); pass image_size=(height, width) (CLI: --image-size HxW) to resize them")
    splits = {split: _stack(part, channels, size) for split, part in images.items()}
    counts = ", ".join(f"{len(x)} {split}" for split, (x, _) in splits.items())
    log.info("%s: %d classes (%s), %s images%s", path, len(class_names), ", ".join(class_names[:10]), counts,
             f", resized to {size[0]}x{size[1]}" if size else "")
    return ImageFolder(splits, class_names, size, f"image folder {path}")


def _split_roots(path: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        for name in names:
            if (path / name).is_dir():
                found[split] = path / name
                break
    if "train" in found and "test" in found:
        return found
    return {"train": path}


def _class_names(roots: dict[str, Path]) -> tuple[str, ...]:
    per_split = {split: sorted(child.name for child in root.iterdir() if child.is_dir() and not child.name.startswith("."))
                 for split, root in roots.items()}
    names = per_split["train"]
    if not names:
        raise DatasetNotFoundError(f"{roots['train']} has no class subfolders: put each class's images in a "
                                   f"subfolder named after it, e.g. {roots['train']}/cat/1.png")
    for split, other in per_split.items():
        if other != names:
            raise InputError(f"{roots[split]} has the classes {other}, but {roots['train']} has {names}: "
                             f"every split needs the same class subfolders")
    return tuple(names)


def _files(root: Path, class_names) -> list[tuple[Path, int]]:
    found = []
    for label, name in enumerate(class_names):
        images = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DatasetNotFoundError(f"{root / name} is an empty class folder: it holds no "
                                       f"{'/'.join(IMAGE_SUFFIXES)} images. Add images, or remove the folder")
        found += [(image, label) for image in images]
    return found


def _decode_all(files, color_mode, bad_files) -> list[tuple[np.ndarray, int, Path]]:
    import tensorflow as tf

    decoded = []
    channels = COLOR_MODES.get(color_mode, 0)
    for file, label in files:
        try:
            image = tf.io.decode_image(file.read_bytes(), channels=channels, expand_animations=False).numpy()
        except (tf.errors.InvalidArgumentError, OSError) as error:
            reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
            if bad_files == "stop":
                raise CorruptDatasetError(
                    f"{file} is not a readable image ({reason}); the run stopped before training. Fix or remove "
                    f"it, or pass bad_files='skip' (CLI: --skip-bad-images) to leave such files out") from None
            log.warning("skipped %s: not a readable image (%s)", file, reason)
            continue
        decoded.append((image, label, file))
    return decoded


def _stack(part, channels: int, size) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    images = []
    for image, _, _ in part:
        if image.shape[-1] != channels:  # the folder mixes grey and colour: convert as decode_image would
            image = _convert_channels(image, channels)
        if size is not None:
            image = tf.image.resize(image, size, method="bilinear").numpy()
        images.append(image)
    labels = np.array([label for _, label, _ in part], np.int32)
    dtype = np.float32 if size is not None else np.uint8
    return np.stack(images).astype(dtype), labels


def _convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    import tensorflow as tf

    if image.shape[-1] in (2, 4):  # drop alpha
        image = image[..., :-1]
    if channels == 1 and image.shape[-1] == 3:
        return tf.image.rgb_to_grayscale(image).numpy()
    if channels >= 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(tf.constant(image)).numpy()
    if channels == 4:
        image = np.concatenate([image, np.full(image.shape[:-1] + (1,), 255, image.dtype)], axis=-1)
    return image
