"""Data sets, read from local files only: nothing downloads at run time.

Every loader returns a :class:`Split` ``(x_train, y_train, x_test, y_test)`` with int64 labels
``0..n_classes-1``:

* **digits** (the default; bundled with scikit-learn, so always available offline): 1,797
  8x8 images of values 0..16, scaled to bytes by ``(v * 255 + 8) // 16`` (``round(v * 255 / 16)``
  with the one half-way value, 8 -> 127.5, rounded up to 128), shaped ``(N, 1, 8, 8)`` uint8,
  split by ``train_test_split(test_size=0.25, random_state=seed, stratify=labels)``:
  1,347 train and 450 test images for every seed.
* **MNIST** from the four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each may also be spelled
  ``train-images.idx3-ubyte`` and may be gzipped with a ``.gz`` suffix): ``(N, 1, rows, cols)``
  uint8.
* **CIFAR-10** from the python batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``;
  in the folder or in its ``cifar-10-batches-py`` sub-folder): ``(N, 3, 32, 32)`` uint8.
  The batches are pickles; they are read by :func:`read_cifar_batch`, which never lets the
  pickle run code (see there).
* **UCI HAR** from ``train/X_train.txt``, ``train/y_train.txt``, ``test/X_test.txt``,
  ``test/y_test.txt`` (in the folder or in its ``UCI HAR Dataset`` sub-folder): 561 float32
  features per window, activity labels 1..6 shifted to 0..5.

:func:`load_dataset` picks a loader from a spec string: ``digits``, ``mnist:DIR``,
``cifar10:DIR`` or ``har:DIR``. A missing folder or file is a ``FileNotFoundError`` naming it;
a malformed file is a ``ValueError`` naming the file and the field that is wrong.
"""
from __future__ import annotations

import gzip
import math
import pickle
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _check_labels(path, labels: np.ndarray, n_classes: int, first: int = 0) -> np.ndarray:
    """Labels ``first..first+n_classes-1`` -> int64 ``0..n_classes-1``."""
    labels = np.asarray(labels).astype(np.int64)
    if labels.size and (labels.min() < first or labels.max() >= first + n_classes):
        bad = labels[(labels < first) | (labels >= first + n_classes)][0]
        raise ValueError(f"{path}: label {bad} is out of range: expected "
                         f"{first}..{first + n_classes - 1}")
    return labels - first


def _check_counts(images_path, n_images: int, labels_path, n_labels: int) -> None:
    if n_images != n_labels:
        raise ValueError(f"{images_path} holds {n_images} samples but {labels_path} holds "
                         f"{n_labels} labels")


def _existing_dir(root, subfolder: str | None = None) -> Path:
    """``root``, or its conventional ``subfolder`` when the data sit there."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} not found")
    if subfolder and (root / subfolder).is_dir():
        return root / subfolder
    return root


def _required_file(folder: Path, names: list[str]) -> Path:
    """The first of ``names`` that exists in ``folder``."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    others = f" (also tried {', '.join(names[1:])})" if len(names) > 1 else ""
    raise FileNotFoundError(f"{folder / names[0]} not found{others}")


# --- digits --------------------------------------------------------------------------------

DIGITS_TEST_SIZE = 0.25


def digits_to_uint8(values) -> np.ndarray:
    """Digits values 0..16 -> bytes 0..255: ``(v * 255 + 8) // 16``."""
    return ((np.asarray(values, dtype=np.int64) * 255 + 8) // 16).astype(np.uint8)


def load_digits_split(seed: int = 0) -> Split:
    """scikit-learn's bundled digits, as bytes, with the fixed stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits_to_uint8(digits.images).reshape(-1, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=DIGITS_TEST_SIZE, random_state=seed, stratify=labels)
    return Split(x_train, y_train, x_test, y_test)


# --- MNIST (IDX files) ---------------------------------------------------------------------

#: IDX data type codes (third magic byte) -> big-endian numpy dtypes.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_maybe_gzip(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            return gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable gzip file ({exc})") from None
    return path.read_bytes()


def read_idx(path) -> np.ndarray:
    """One IDX file (optionally ``.gz``): magic ``00 00 TYPE NDIM``, NDIM big-endian uint32
    sizes, then the data, big-endian, row-major. The data must fill the file exactly."""
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: IDX magic: the file has {len(raw)} bytes, a header needs 4")
    if raw[0] or raw[1]:
        raise ValueError(f"{path}: IDX magic: the first two bytes must be 0, got "
                         f"{raw[0]:#04x} {raw[1]:#04x}")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{path}: IDX magic: unknown data type code {code:#04x} (expected one "
                         f"of {', '.join(f'{c:#04x}' for c in IDX_TYPES)})")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: IDX dims: {ndim} dimensions need a {header}-byte header, "
                         f"the file has {len(raw)} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[code])
    count = math.prod(dims)
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(f"{path}: IDX data: dims {dims} of {dtype.name} need "
                         f"{count * dtype.itemsize} bytes, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype, count, header).reshape(dims).astype(dtype.newbyteorder("="))


def _mnist_file(folder: Path, stem: str) -> Path:
    """``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``, either maybe ``.gz``."""
    dotted = ".idx".join(stem.rsplit("-idx", 1))
    return _required_file(folder, [stem, stem + ".gz", dotted, dotted + ".gz"])


def _mnist_part(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _mnist_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _mnist_file(folder, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    for path, arr, ndim, what in ((images_path, images, 3, "(count, rows, cols)"),
                                  (labels_path, labels, 1, "(count,)")):
        if arr.dtype != np.uint8:
            raise ValueError(f"{path}: IDX magic: data type {arr.dtype}, expected unsigned "
                             f"bytes (0x08)")
        if arr.ndim != ndim:
            raise ValueError(f"{path}: IDX dims: {arr.shape}, expected {ndim} dims {what}")
    _check_counts(images_path, len(images), labels_path, len(labels))
    return images[:, np.newaxis].copy(), _check_labels(labels_path, labels, 10)


def load_mnist(root) -> Split:
    folder = _existing_dir(root)
    return Split(*_mnist_part(folder, "train"), *_mnist_part(folder, "t10k"))


# --- CIFAR-10 (python batches) -------------------------------------------------------------

CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_ROW_BYTES = 3 * 32 * 32


class _NdarrayStub:
    """Stands in for a numpy array while unpickling: records the state numpy would restore
    (``(version, shape, dtype, is_fortran, raw_bytes)``); runs nothing."""

    state: tuple = ()

    def __setstate__(self, state) -> None:
        self.state = state


class _DtypeStub:
    """Stands in for a numpy dtype while unpickling: keeps its name (e.g. ``u1``)."""

    def __init__(self, name, align=False, copy=True) -> None:
        self.name = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)

    def __setstate__(self, state) -> None:
        pass  # byte order and flags: irrelevant for single bytes, the only type accepted


_NDARRAY_CLASS = object()  # what the pickle's reference to numpy.ndarray resolves to


def _reconstruct(cls, shape, typecode) -> _NdarrayStub:
    if cls is not _NDARRAY_CLASS:
        raise pickle.UnpicklingError("_reconstruct is only allowed for numpy.ndarray")
    return _NdarrayStub()


def _latin1_encode(text, encoding="latin1") -> bytes:
    """How Python 3 writes ``bytes`` at protocol 2: ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed to latin1, not {encoding!r}")
    return text.encode("latin-1")


#: The only globals a CIFAR batch may name, each mapped to an inert stand-in of ours.
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,   # numpy 1.x (the original files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2.x
    ("numpy", "ndarray"): _NDARRAY_CLASS,
    ("numpy", "dtype"): _DtypeStub,
    ("_codecs", "encode"): _latin1_encode,                     # bytes pickled by Python 3
}


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_CIFAR_GLOBALS``, and to our own stand-ins."""

    def find_class(self, module, name):
        try:
            return _CIFAR_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a "
                                         f"CIFAR-10 batch") from None


def _stub_to_uint8_array(path: Path, stub) -> np.ndarray:
    if not isinstance(stub, _NdarrayStub):
        raise ValueError(f"{path}: data: expected a numpy array, got {type(stub).__name__}")
    state = stub.state[1:] if len(stub.state) == 5 else stub.state   # drop numpy's version
    if len(state) != 4:
        raise ValueError(f"{path}: data: unexpected numpy array state of {len(state)} items")
    shape, dtype, fortran, raw = state
    if not isinstance(dtype, _DtypeStub) or dtype.name not in ("u1", "|u1", "uint8"):
        name = dtype.name if isinstance(dtype, _DtypeStub) else type(dtype).__name__
        raise ValueError(f"{path}: data: dtype {name!r}, expected uint8")
    if (not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape)
            or not isinstance(raw, bytes) or len(raw) != math.prod(shape)):
        raise ValueError(f"{path}: data: shape {shape!r} does not match its "
                         f"{len(raw) if isinstance(raw, bytes) else '?'} bytes")
    return np.frombuffer(raw, np.uint8).reshape(shape, order="F" if fortran else "C")


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> images ``(N, 3, 32, 32)`` uint8, labels int64.

    The batch is a pickle of a dict with ``data`` (a uint8 numpy array ``(N, 3072)``: 1024
    red, 1024 green, 1024 blue bytes per image, rows of 32) and ``labels`` (a list of ints).
    It is never unpickled as such: the unpickler resolves only five names (numpy's array
    reconstructor, ``ndarray`` and ``dtype`` and Python 3's latin1 ``_codecs.encode``) and
    resolves them to inert stand-ins defined here, so the only code a batch can run is
    ours: it can build dicts, lists, tuples, strings, bytes and numbers, and records of an
    array's shape, dtype name and raw bytes. The array itself is then built with
    ``np.frombuffer`` after checking that the dtype is uint8 and the bytes fill the shape.
    Any other global (``os.system``, ``builtins.eval``, ...) is refused before it is used.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes", fix_imports=False).load()
    except Exception as exc:  # whatever a malformed pickle makes the unpickler raise
        raise ValueError(f"{path}: not a CIFAR-10 python batch "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict, got {type(batch).__name__}")
    fields = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in fields:
            raise ValueError(f"{path}: {key}: missing (keys: {sorted(map(str, fields))})")
    data = _stub_to_uint8_array(path, fields["data"])
    if data.ndim != 2 or data.shape[1] != CIFAR_ROW_BYTES:
        raise ValueError(f"{path}: data: shape {data.shape}, expected (N, {CIFAR_ROW_BYTES})")
    labels = fields["labels"]
    if not isinstance(labels, (list, tuple)) or not all(type(v) is int for v in labels):
        raise ValueError(f"{path}: labels: expected a list of ints")
    _check_counts(f"{path} (data)", len(data), f"{path} (labels)", len(labels))
    labels = _check_labels(f"{path}: labels", np.array(labels, dtype=np.int64), 10)
    return data.reshape(-1, 3, 32, 32).copy(), labels


def load_cifar10(root) -> Split:
    folder = _existing_dir(root, "cifar-10-batches-py")
    train = [read_cifar_batch(_required_file(folder, [name])) for name in CIFAR_TRAIN_BATCHES]
    x_test, y_test = read_cifar_batch(_required_file(folder, [CIFAR_TEST_BATCH]))
    return Split(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                 x_test, y_test)


# --- UCI HAR -------------------------------------------------------------------------------

HAR_FEATURES = 561
HAR_CLASSES = 6


def _read_text_table(path: Path, dtype, ndmin: int) -> np.ndarray:
    try:
        return np.loadtxt(path, dtype=dtype, ndmin=ndmin)
    except ValueError as exc:
        raise ValueError(f"{path}: not a table of {np.dtype(dtype).name} ({exc})") from None


def _har_part(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    x_path = _required_file(folder / part, [f"X_{part}.txt"])
    y_path = _required_file(folder / part, [f"y_{part}.txt"])
    features = _read_text_table(x_path, np.float32, ndmin=2)
    labels = _read_text_table(y_path, np.int64, ndmin=1)
    if features.shape[1] != HAR_FEATURES:
        raise ValueError(f"{x_path}: {features.shape[1]} features per line, expected "
                         f"{HAR_FEATURES}")
    if labels.ndim != 1:
        raise ValueError(f"{y_path}: expected one label per line, got shape {labels.shape}")
    _check_counts(x_path, len(features), y_path, len(labels))
    return features, _check_labels(y_path, labels, HAR_CLASSES, first=1)


def load_har(root) -> Split:
    folder = _existing_dir(root, "UCI HAR Dataset")
    return Split(*_har_part(folder, "train"), *_har_part(folder, "test"))


# --- by name -------------------------------------------------------------------------------

LOADERS = {"mnist": load_mnist, "cifar10": load_cifar10, "har": load_har}
SPEC_HELP = "digits, mnist:DIR, cifar10:DIR or har:DIR"


def load_dataset(spec: str) -> Split:
    """``digits`` | ``mnist:DIR`` | ``cifar10:DIR`` | ``har:DIR``."""
    scheme, sep, location = spec.partition(":")
    if scheme == "digits":
        if sep:
            raise ValueError(f"data set {spec!r}: digits is bundled and takes no folder")
        return load_digits_split()
    if scheme not in LOADERS:
        raise ValueError(f"unknown data set {scheme!r} in {spec!r}: expected {SPEC_HELP}")
    if not location:
        raise ValueError(f"data set {spec!r}: name its folder, as {scheme}:DIR")
    return LOADERS[scheme](location)
