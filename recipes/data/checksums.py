"""The published SHA-256 of each dataset's release files, and the check that a file claiming to be
one of them is one.

A file *claims to be a release file* when it has a release file's name (``train-images-idx3-ubyte``
with or without ``.gz``, ``rt-polarity.pos``, ``input.txt``...) and its content has that file's
size (for a ``.gz``, the size decompressed). A file of another size (a slice, a subset, your own
corpus in the same layout) is not a release file and is checked for its format only. A claim is
checked against the digest of the content, which does not depend on how the file was compressed
(Debian re-compressed Fashion-MNIST), and, for a ``.gz``, against the digest of the archive as
published. A mismatch raises ``ModifiedDatasetError``.

To use a modified copy on purpose: ``verify_checksums=False`` on a loader, ``with
recipes.data.accept_modified_data(): ...`` around the calls, or ``KERAS_RECIPES_ACCEPT_MODIFIED_DATA=1``
in the environment (read here, and only here).

Each verdict is kept for the process, keyed by the file's path, size and modification time, so a
dataset loaded again is not hashed again.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recipes.errors import CorruptDatasetError, ModifiedDatasetError

ACCEPT_MODIFIED_ENV = "KERAS_RECIPES_ACCEPT_MODIFIED_DATA"
ACCEPT_HINT = (f"to use a modified copy on purpose, pass --accept-modified-data on the command line, "
               f"accept_modified=True to recipes.run, verify_checksums=False to the loaders (or wrap the call in "
               f"recipes.data.accept_modified_data()), or set {ACCEPT_MODIFIED_ENV}=1")

Verdict = Literal["verified", "not a release file", "not checked", "no published digest"]


@dataclass(frozen=True)
class Form:
    """One published form of a file: its size in bytes and its SHA-256."""

    size: int
    sha256: str
    what: str = "as released"


@dataclass(frozen=True)
class ReleaseFile:
    """A file of a dataset's release: the names it is found under, the digests of its content
    (decompressed, for IDX files) and, where the release ships it compressed, of the ``.gz``."""

    names: tuple[str, ...]
    content: tuple[Form, ...] = ()
    archives: tuple[Form, ...] = ()


def _idx(name: str, size: int, content: str | None, *archives: Form) -> ReleaseFile:
    return ReleaseFile((name,), (Form(size, content),) if content else (Form(size, ""),), archives)


# Sources (see the module docs of each loader for where the files are looked for):
# - Fashion-MNIST: the .gz digests are tensorflow-datasets' url_checksums/fashion_mnist.txt (the files
#   at fashion-mnist.s3-website.eu-central-1.amazonaws.com; their MD5s match the Fashion-MNIST README).
#   The content digests were computed from Debian's dataset-fashion-mnist, whose .gz files are the
#   upstream deflate streams without the stored file name: with the name header put back they give
#   exactly the published SHA-256 and MD5. Debian's own .gz digests are listed too.
# - MNIST: tensorflow-datasets' url_checksums/mnist.txt (the storage.googleapis.com/cvdf-datasets
#   mirror of the original files); the content digests are not established. mnist.npz: the
#   file_hash in keras.datasets.mnist.load_data.
# - CIFAR-10: tensorflow-datasets' url_checksums/cifar10.txt, for the archive; no per-file digest of
#   the unpacked batches is published (the loader checks the release's class counts instead).
# - MR sentence polarity v1.0: no digest is published. The two forms in circulation: the release's
#   Windows-1252 bytes (as first committed in dennybritz/cnn-text-classification-tf, 2015) and their
#   UTF-8 re-encoding (that repository since 2016; ../shared/data). Both read as the same sentences.
# - Tiny Shakespeare: tensorflow-datasets' datasets/tiny_shakespeare/checksums.tsv (char-rnn's
#   input.txt); storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt is the same file.
RELEASES: dict[str, tuple[ReleaseFile, ...]] = {
    "fashion_mnist": (
        _idx("train-images-idx3-ubyte", 47040016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             Form(26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
             Form(26421856, "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", "Debian")),
        _idx("train-labels-idx1-ubyte", 60008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             Form(29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
             Form(29491, "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", "Debian")),
        _idx("t10k-images-idx3-ubyte", 7840016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             Form(4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
             Form(4422079, "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", "Debian")),
        _idx("t10k-labels-idx1-ubyte", 10008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
             Form(5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
             Form(5125, "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", "Debian")),
    ),
    "mnist": (
        _idx("train-images-idx3-ubyte", 47040016, None,
             Form(9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")),
        _idx("train-labels-idx1-ubyte", 60008, None,
             Form(28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c")),
        _idx("t10k-images-idx3-ubyte", 7840016, None,
             Form(1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6")),
        _idx("t10k-labels-idx1-ubyte", 10008, None,
             Form(4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")),
        ReleaseFile(("mnist.npz",), (Form(11490434, "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                                          "Keras's copy"),)),
    ),
    "cifar10": (
        ReleaseFile(("cifar-10-binary.tar.gz",),
                    (Form(170052171, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),)),
    ),
    "mr_polarity": (
        ReleaseFile(("rt-polarity.pos",), (
            Form(626168, "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4", "Windows-1252 (release)"),
            Form(626395, "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58", "re-encoded as UTF-8"))),
        ReleaseFile(("rt-polarity.neg",), (
            Form(612290, "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc", "Windows-1252 (release)"),
            Form(612506, "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd", "re-encoded as UTF-8"))),
    ),
    "tiny_shakespeare": (
        ReleaseFile(("input.txt", "shakespeare.txt"),
                    (Form(1115394, "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),)),
    ),
}
TITLES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10",
          "mr_polarity": "MR sentence-polarity", "tiny_shakespeare": "Tiny Shakespeare"}

_VERIFY: contextvars.ContextVar[bool | None] = contextvars.ContextVar("keras_recipes_verify_checksums", default=None)
_VERDICTS: dict[tuple, Verdict] = {}


def checks_enabled(verify: bool | None = None) -> bool:
    """Whether release files are checked: ``verify`` when given, else what the innermost
    ``verifying``/``accept_modified_data`` block says, else on unless ``$KERAS_RECIPES_ACCEPT_MODIFIED_DATA``
    is set (to anything but 0, false, no or off)."""
    if verify is not None:
        return bool(verify)
    if _VERIFY.get() is not None:
        return bool(_VERIFY.get())
    return os.environ.get(ACCEPT_MODIFIED_ENV, "").strip().lower() in ("", "0", "false", "no", "off")


@contextlib.contextmanager
def verifying(verify: bool | None) -> Iterator[None]:
    """Within the block, check release files (True) or not (False); None leaves things as they are."""
    if verify is None:
        yield
        return
    token = _VERIFY.set(bool(verify))
    try:
        yield
    finally:
        _VERIFY.reset(token)


def accept_modified_data(accept: bool = True) -> contextlib.AbstractContextManager:
    """``with accept_modified_data(): ...`` loads modified copies of release files without the
    checksum error; ``accept_modified_data(False)`` changes nothing, so a flag can be passed as is."""
    return verifying(False) if accept else verifying(None)


def release_file(dataset: str, filename: str) -> ReleaseFile | None:
    name = filename[:-3] if filename.endswith(".gz") and not filename.endswith(".tar.gz") else filename
    return next((r for r in RELEASES.get(dataset, ()) if name in r.names), None)


def forget_verdicts() -> None:
    """Forget the verdicts kept for this process (the next check hashes again)."""
    _VERDICTS.clear()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_release_file(path: str | Path, dataset: str, content: bytes | None = None, *,
                       verify: bool | None = None, hint: str = "") -> Verdict:
    """Check ``path`` against ``dataset``'s release file of that name, if it claims to be one.

    ``content`` is the file's bytes (decompressed, for a ``.gz``) when the caller has read them
    already. Returns what was found; raises ``ModifiedDatasetError`` when the file has a release
    file's name and size but not its digest. ``hint`` says how to get the real file."""
    path = Path(path)
    if not checks_enabled(verify):
        return "not checked"
    release = release_file(dataset, path.name)
    if release is None:
        return "not a release file"
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, dataset)
    if key in _VERDICTS:
        return _VERDICTS[key]
    compressed = path.suffix == ".gz" and not path.name.endswith(".tar.gz")
    if content is None:
        raw = path.read_bytes()
        try:
            content = gzip.decompress(raw) if compressed else raw
        except (OSError, EOFError) as error:
            raise CorruptDatasetError(f"{path} is corrupt or truncated ({error}). {hint}".strip()) from None
    verdict = _verdict(path, release, content, compressed, dataset, hint)
    _VERDICTS[key] = verdict
    return verdict


def _verdict(path: Path, release: ReleaseFile, content: bytes, compressed: bool, dataset: str, hint: str) -> Verdict:
    forms = [form for form in release.content if form.size == len(content)]
    if not forms:
        return "not a release file"
    digest = _sha256(content)
    known = [form for form in forms if form.sha256]
    if any(form.sha256 == digest for form in known):
        return "verified"
    archive_digest = None
    if compressed and release.archives:
        archive_digest = _sha256(path.read_bytes())
        if any(form.sha256 == archive_digest for form in release.archives):
            return "verified"
    if not known and archive_digest is None:
        return "no published digest"
    if known:
        found, expected = f"content SHA-256 {digest}", " or ".join(f.sha256 for f in known)
    else:
        found, expected = f".gz SHA-256 {archive_digest}", " or ".join(f.sha256 for f in release.archives)
    title = TITLES.get(dataset, dataset)
    todo = f"{hint.rstrip('.')}; " if hint else "replace it with the release file; "
    raise ModifiedDatasetError(
        f"{path} has the name and size of the {title} release file but not its content ({found}, published "
        f"{expected}): it is corrupt or was modified. {todo[0].upper()}{todo[1:]}{ACCEPT_HINT}."
    )
