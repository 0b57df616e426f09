"""Text corpora: the MR sentence-polarity corpus and Tiny Shakespeare, found locally or
downloaded into Keras's cache, and a seeded stratified split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.data._locate import DATA_DIR_ENV, Found, find_or_download, keras_home, match_layout, search_folders

MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
SHAKESPEARE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"
MR_LAYOUTS = [(f"{folder}rt-polarity.pos", f"{folder}rt-polarity.neg")
              for folder in ("", "rt-polarity/", "rt-polaritydata/")]
SHAKESPEARE_LAYOUTS = [("tinyshakespeare/input.txt",), ("input.txt",), ("shakespeare.txt",)]


def _find_corpus(title: str, layouts, data_dir, download: bool, *, url: str, cache_name: str, extract: bool) -> Found:
    """The folder holding one of ``layouts``: data_dir, $KERAS_RECIPES_DATA_DIR, the Keras cache
    (each also under ``cache_name`` and ``cache_name_extracted``), then a download into the cache."""
    subfolders = (cache_name, f"{cache_name}_extracted")
    folders = [*search_folders(data_dir, subfolders),
               *(("Keras cache", folder) for folder in (keras_home() / "datasets",
                                                        *(keras_home() / "datasets" / s for s in subfolders)))]

    def fetch() -> Found:
        import keras

        path = Path(keras.utils.get_file(cache_name, url, extract=extract))
        folder = path if path.is_dir() else path.parent
        for candidate in (folder, *folder.glob("*")):
            layout, _ = match_layout(candidate, layouts) if candidate.is_dir() else (None, [])
            if layout:
                return Found(f"downloaded from {url}", candidate, layout)
        raise FileNotFoundError(f"the download from {url} did not contain the expected files")

    return find_or_download(
        title, layouts, folders, download=fetch, host=url.split("/")[2], allow_download=download,
        how_to_get=[f"put the files in a folder and pass data_dir=... (CLI: --data-dir) or set ${DATA_DIR_ENV}",
                    f"online, it is downloaded from {url} into the Keras cache"])


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the original MR release is Latin-1
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_mr_polarity(data_dir=None, download=True) -> tuple[np.ndarray, np.ndarray, str]:
    """MR sentence polarity v1.0 (Pang and Lee 2005): ``(sentences, labels, source)``, labels
    1 = positive, in file order (all negatives, then all positives)."""
    found = _find_corpus("The MR sentence-polarity corpus (rt-polarity.pos/.neg)", MR_LAYOUTS, data_dir, download,
                         url=MR_URL, cache_name="rt-polaritydata", extract=True)
    positive_file, negative_file = found.layout
    negative, positive = _read_lines(found.folder / negative_file), _read_lines(found.folder / positive_file)
    sentences = np.array(negative + positive, dtype=object)
    labels = np.array([0] * len(negative) + [1] * len(positive), dtype=np.int32)
    return sentences, labels, found.source


def load_tiny_shakespeare(data_dir=None, download=True) -> tuple[str, str]:
    """The char-rnn Tiny Shakespeare corpus as one string, and where it came from."""
    found = _find_corpus("Tiny Shakespeare (input.txt)", SHAKESPEARE_LAYOUTS, data_dir, download,
                         url=SHAKESPEARE_URL, cache_name="shakespeare.txt", extract=False)
    (relative,) = found.layout
    return (found.folder / relative).read_text(encoding="utf-8"), found.source


def stratified_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list[np.ndarray]:
    """Seeded index arrays, one per fraction, each with the label proportions of the whole."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions) / np.sum(fractions) * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds[:-1])):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]
