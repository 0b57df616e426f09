"""Text corpora: the MR sentence-polarity corpus and Tiny Shakespeare, found locally or
downloaded into Keras's cache, and a seeded stratified split.

A corpus file is validated before it is used: an empty file, binary content or the two MR files
holding one class are a ``CorruptDatasetError`` naming the file; a file with a release file's name
and size is checked against its published SHA-256 (``checksums``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from recipes.data import checksums
from recipes.data._locate import DATA_DIR_ENV, Found, find_or_download, keras_home, match_layout, search_folders
from recipes.errors import CorruptDatasetError

MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
SHAKESPEARE_URL = "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt"
MR_LAYOUTS = [(f"{folder}rt-polarity.pos", f"{folder}rt-polarity.neg")
              for folder in ("", "rt-polarity/", "rt-polaritydata/")]
SHAKESPEARE_LAYOUTS = [("tinyshakespeare/input.txt",), ("input.txt",), ("shakespeare.txt",)]
SHAKESPEARE_SHA256 = checksums.RELEASES["tiny_shakespeare"][0].content[0].sha256
# Control characters other than tab, newline, carriage return and form feed: text has (almost) none.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_FRACTION = 0.001


def _find_corpus(title: str, layouts, data_dir, download: bool, *, url: str, cache_name: str, extract: bool,
                 file_hash: str | None = None) -> Found:
    """The folder holding one of ``layouts``: data_dir, $KERAS_RECIPES_DATA_DIR, the Keras cache
    (each also under ``cache_name`` and ``cache_name_extracted``), then a download into the cache."""
    subfolders = (cache_name, f"{cache_name}_extracted")
    folders = [*search_folders(data_dir, subfolders),
               *(("Keras cache", folder) for folder in (keras_home() / "datasets",
                                                        *(keras_home() / "datasets" / s for s in subfolders)))]

    def fetch() -> Found:
        import keras

        path = Path(keras.utils.get_file(cache_name, url, extract=extract, file_hash=file_hash))
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


def read_corpus(path: Path, dataset: str, *, what: str, hint: str, verify_checksums: bool | None = None) -> str:
    """The text of a corpus file: UTF-8, else Windows-1252 (the MR release), else Latin-1. An empty
    file, or one whose content is binary, is a one-line ``CorruptDatasetError`` naming it; a file
    with a release file's name and size must have its digest."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.strip():
        state = "empty" if not raw else "empty (whitespace only)"
        raise CorruptDatasetError(f"{path} is {state}; it should hold {what}. {hint}")
    checksums.check_release_file(path, dataset, raw, verify=verify_checksums, hint=hint)
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    control = _CONTROL.findall(text)
    if b"\0" in raw or len(control) > _MAX_CONTROL_FRACTION * len(text):
        first = next(iter(_CONTROL.finditer(text)))
        raise CorruptDatasetError(
            f"{path} is binary, not text: {len(control):,} of its {len(text):,} characters are control "
            f"characters (the first, {first.group()!r}, at character {first.start():,}); it should hold {what}. {hint}"
        )
    return text


def _sentences(path: Path, *, verify_checksums: bool | None) -> list[str]:
    hint = f"Replace it with {path.name} from the corpus release ({MR_URL})."
    text = read_corpus(path, "mr_polarity", what="one sentence a line", hint=hint, verify_checksums=verify_checksums)
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_mr_polarity(data_dir=None, download=True, *, verify_checksums: bool | None = None
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    """MR sentence polarity v1.0 (Pang and Lee 2005): ``(sentences, labels, source)``, labels
    1 = positive, in file order (all negatives, then all positives).

    Both files must hold text sentences, and not the same ones; files that claim to be the
    release's are checked against its digests (``verify_checksums=False`` accepts a modified copy)."""
    found = _find_corpus("The MR sentence-polarity corpus (rt-polarity.pos/.neg)", MR_LAYOUTS, data_dir, download,
                         url=MR_URL, cache_name="rt-polaritydata", extract=True)
    positive_file, negative_file = (found.folder / name for name in found.layout)
    negative = _sentences(negative_file, verify_checksums=verify_checksums)
    positive = _sentences(positive_file, verify_checksums=verify_checksums)
    if sorted(negative) == sorted(positive):
        raise CorruptDatasetError(
            f"{positive_file} and {negative_file} hold the same sentences, so the corpus has one class: one of "
            f"them was copied over the other. Replace them with the corpus release ({MR_URL})."
        )
    sentences = np.array(negative + positive, dtype=object)
    labels = np.array([0] * len(negative) + [1] * len(positive), dtype=np.int32)
    return sentences, labels, found.source


def load_tiny_shakespeare(data_dir=None, download=True, *, verify_checksums: bool | None = None) -> tuple[str, str]:
    """The char-rnn Tiny Shakespeare corpus as one string, and where it came from. An empty or
    binary file is an error; a file of the release's size must be the release (its SHA-256)."""
    found = _find_corpus("Tiny Shakespeare (input.txt)", SHAKESPEARE_LAYOUTS, data_dir, download,
                         url=SHAKESPEARE_URL, cache_name="shakespeare.txt", extract=False,
                         file_hash=SHAKESPEARE_SHA256)
    (relative,) = found.layout
    path = found.folder / relative
    text = read_corpus(path, "tiny_shakespeare", what="the plays' text", verify_checksums=verify_checksums,
                       hint=f"Replace it with char-rnn's tinyshakespeare/input.txt ({SHAKESPEARE_URL}).")
    return text, found.source


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
