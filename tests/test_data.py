"""Data loaders: the bundled digits split, and MNIST / CIFAR-10 / UCI HAR from tiny files the
tests write in each format."""
import gzip
import pickle
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits

from twinspike import data

RNG = np.random.default_rng(0)


# --- digits --------------------------------------------------------------------------------

def test_digits_split_shapes_types_and_sizes():
    split = data.load_digits_split()
    assert split.x_train.shape == (1347, 1, 8, 8) and split.x_test.shape == (450, 1, 8, 8)
    assert split.x_train.dtype == np.uint8 and split.y_train.dtype == np.int64
    assert split.x_train.min() == 0 and split.x_train.max() == 255
    assert set(np.unique(split.y_test)) == set(range(10))


def test_digits_scaling_is_round_of_v_times_255_over_16():
    assert data.digits_to_uint8(np.arange(17)).tolist() == [
        round(v * 255 / 16 + 1e-9) for v in range(17)]            # 8 -> 127.5 -> 128 (up)
    assert data.digits_to_uint8([0, 8, 16]).tolist() == [0, 128, 255]


def test_digits_split_is_a_fixed_stratified_partition():
    a, b = data.load_digits_split(), data.load_digits_split()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    digits = load_digits()
    every = np.concatenate([a.x_train, a.x_test]).reshape(-1, 64)
    expected = data.digits_to_uint8(digits.data)
    assert sorted(map(bytes, every)) == sorted(map(bytes, expected))   # a partition of all
    per_class = np.bincount(a.y_test, minlength=10) / np.bincount(digits.target, minlength=10)
    assert np.abs(per_class - 0.25).max() < 0.01                        # stratified
    other = data.load_digits_split(seed=1)
    assert not np.array_equal(other.y_test, a.y_test)


# --- MNIST ---------------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_mnist(folder, n_train=5, n_test=3, rows=4, cols=3, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, rows, cols), dtype=np.uint8)
        labels = RNG.integers(0, 10, n, dtype=np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images),
                          (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = idx_bytes(arr)
            if gz:
                (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
        out[prefix] = images, labels
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    written = write_mnist(tmp_path, gz=gz)
    split = data.load_dataset(f"mnist:{tmp_path}")
    for (images, labels), x, y in ((written["train"], split.x_train, split.y_train),
                                   (written["t10k"], split.x_test, split.y_test)):
        assert x.shape == (len(images), 1, 4, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x[:, 0], images)
        assert y.dtype == np.int64 and y.tolist() == labels.tolist()


def test_mnist_accepts_the_dotted_file_names(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "t10k-images.idx3-ubyte")
    assert data.load_mnist(tmp_path).x_test.shape == (3, 1, 4, 3)


def test_read_idx_handles_every_type_big_endian(tmp_path):
    for code, dtype in ((0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8"), (0x09, "i1")):
        arr = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
        (tmp_path / "a.idx").write_bytes(idx_bytes(arr, code))
        got = data.read_idx(tmp_path / "a.idx")
        np.testing.assert_array_equal(got, arr)
        assert got.dtype.isnative


@pytest.mark.parametrize("mangle,match", [
    (lambda raw: b"\x01" + raw[1:], "magic: the first two bytes must be 0"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "magic: unknown data type code 0x07"),
    (lambda raw: raw[:-1], "data: dims .* need 60 bytes, the file has 59"),
    (lambda raw: raw + b"\x00", "data: .* the file has 61"),
    (lambda raw: raw[:9], "dims: 3 dimensions need a 16-byte header"),
    (lambda raw: raw[:2], "magic: the file has 2 bytes"),
])
def test_mnist_malformed_idx_names_file_and_field(tmp_path, mangle, match):
    write_mnist(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte"
    target.write_bytes(mangle(target.read_bytes()))
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte: IDX {match}"):
        data.load_mnist(tmp_path)


def test_mnist_semantic_errors(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.array([1, 2], dtype=np.uint8)))
    with pytest.raises(ValueError, match="holds 3 samples but .*t10k-labels-idx1-ubyte holds 2"):
        data.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.array([1, 10, 2], dtype=np.uint8)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: label 10 is out of range"):
        data.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros((3, 1), dtype=np.uint8)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: IDX dims: .* expected 1 dims"):
        data.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros(3, dtype=">i2"), 0x0B))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: IDX magic: data type int16"):
        data.load_mnist(tmp_path)


def test_mnist_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte not found"):
        data.load_dataset(f"mnist:{tmp_path}")


# --- CIFAR-10 ------------------------------------------------------------------------------

def cifar_batch(n, label_offset=0, str_keys=False):
    rows = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [(i + label_offset) % 10 for i in range(n)]
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    return {key("batch_label"): b"training batch", key("data"): rows, key("labels"): labels,
            key("filenames"): [b"img%d.png" % i for i in range(n)]}


def write_cifar(folder, sizes=(2, 1, 3, 1, 2, 2), **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name, n in zip((*data.CIFAR_TRAIN_BATCHES, data.CIFAR_TEST_BATCH), sizes):
        batches[name] = cifar_batch(n, label_offset=len(batches), **kwargs)
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    return batches


@pytest.mark.parametrize("str_keys", [False, True])
def test_cifar_reads_python_batches(tmp_path, str_keys):
    batches = write_cifar(tmp_path / "cifar-10-batches-py", str_keys=str_keys)
    split = data.load_dataset(f"cifar10:{tmp_path}")        # the parent folder works too
    get = (lambda b, k: b[k]) if str_keys else (lambda b, k: b[k.encode()])
    train = [batches[name] for name in data.CIFAR_TRAIN_BATCHES]
    expected_x = np.concatenate([get(b, "data") for b in train]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(split.x_train, expected_x)
    assert split.y_train.tolist() == sum((get(b, "labels") for b in train), [])
    test = batches[data.CIFAR_TEST_BATCH]
    np.testing.assert_array_equal(split.x_test[1, 2, 31], get(test, "data")[1, 2048 + 31 * 32:])
    assert split.x_test.dtype == np.uint8 and split.y_test.dtype == np.int64


def python2_batch_pickle(rows: np.ndarray, labels: list[int]) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) wrote for the original batches: str keys and
    raw data as BINSTRING, numpy 1.x global names."""
    def string(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b
    shape = b"K" + bytes([rows.shape[0]]) + b"M" + struct.pack("<H", rows.shape[1]) + b"\x86"
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b")
             + b"\x87R(K\x01" + shape + b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             + b"\x89" + string(rows.tobytes()) + b"tb")
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + string(b"batch_label") + string(b"testing batch 1 of 1")
            + string(b"data") + array + string(b"labels") + label_list + b"u.")


def test_cifar_reads_the_original_python2_format(tmp_path):
    rows = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    raw = python2_batch_pickle(rows, [3, 0, 9])
    trusted = pickle.loads(raw, encoding="bytes")       # the test's own bytes: a sanity check
    np.testing.assert_array_equal(trusted[b"data"], rows)
    (tmp_path / "test_batch").write_bytes(raw)
    x, y = data.read_cifar_batch(tmp_path / "test_batch")
    np.testing.assert_array_equal(x.reshape(3, -1), rows)
    assert y.tolist() == [3, 0, 9]


CALLS = []


def record_call(*args):
    CALLS.append(args)
    return {}


class Payload:
    def __reduce__(self):
        return record_call, ("pwned",)


@pytest.mark.parametrize("payload", [Payload(), {b"data": Payload(), b"labels": [0]}])
def test_cifar_reader_never_runs_the_pickle(tmp_path, payload):
    """A pickle naming any other callable is refused before the callable is reached."""
    CALLS.clear()
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(payload, f, protocol=2)
    with pytest.raises(ValueError, match="test_batch: not a CIFAR-10 python batch .*not allowed"):
        data.read_cifar_batch(tmp_path / "test_batch")
    assert CALLS == []


@pytest.mark.parametrize("batch,match", [
    ({b"data": np.zeros((2, 3072), dtype=np.float32), b"labels": [0, 1]}, "data: dtype 'f4'"),
    ({b"data": np.zeros((2, 3072), dtype=object), b"labels": [0, 1]}, "data: dtype 'O8'"),
    ({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, r"data: shape \(2, 100\)"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0]}, "holds 2 samples"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 10]}, "label 10 is out"),
    ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, "1"]}, "list of ints"),
    ({b"data": [1, 2], b"labels": [0, 1]}, "expected a numpy array"),
    ({b"labels": [0, 1]}, "data: missing"),
    ([1, 2], "expected a dict"),
])
def test_cifar_malformed_batch_names_file_and_field(tmp_path, batch, match):
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(ValueError, match=f"data_batch_3.*{match}"):
        data.read_cifar_batch(tmp_path / "data_batch_3")


def test_cifar_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4 not found"):
        data.load_cifar10(tmp_path)


# --- UCI HAR -------------------------------------------------------------------------------

def write_har(root, n_train=4, n_test=3, features=data.HAR_FEATURES):
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        (root / part).mkdir(parents=True, exist_ok=True)
        x = RNG.uniform(-1, 1, (n, features)).astype(np.float32)
        y = RNG.integers(1, 7, n)
        np.savetxt(root / part / f"X_{part}.txt", x, fmt="%.8e")  # round-trips float32
        np.savetxt(root / part / f"y_{part}.txt", y, fmt="%d")
        out[part] = x, y
    return out


def test_har_reads_text_files(tmp_path):
    written = write_har(tmp_path / "UCI HAR Dataset")
    split = data.load_dataset(f"har:{tmp_path}")
    for (x, y), xs, ys in ((written["train"], split.x_train, split.y_train),
                           (written["test"], split.x_test, split.y_test)):
        assert xs.dtype == np.float32 and xs.shape == (len(x), 561)
        np.testing.assert_array_equal(xs, x)
        assert ys.dtype == np.int64 and ys.tolist() == (y - 1).tolist()


def test_har_errors_name_file_and_field(tmp_path):
    write_har(tmp_path, features=560)
    with pytest.raises(ValueError, match=r"X_train.txt: 560 features per line, expected 561"):
        data.load_har(tmp_path)
    write_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").write_text("1\n7\n2\n")
    with pytest.raises(ValueError, match="y_test.txt: label 7 is out of range: expected 1..6"):
        data.load_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").write_text("1\n2\n")
    with pytest.raises(ValueError, match="X_test.txt holds 3 samples but .*y_test.txt holds 2"):
        data.load_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").write_text("1\nwalking\n2\n")
    with pytest.raises(ValueError, match="y_test.txt: not a table of int64"):
        data.load_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").unlink()
    with pytest.raises(FileNotFoundError, match="y_test.txt not found"):
        data.load_har(tmp_path)


# --- load_dataset --------------------------------------------------------------------------

def test_load_dataset_digits_is_the_default_split():
    a, b = data.load_dataset("digits"), data.load_digits_split()
    np.testing.assert_array_equal(a.x_test, b.x_test)


@pytest.mark.parametrize("spec,match", [("imagenet:/x", "unknown data set 'imagenet'"),
                                        ("mnist", "name its folder"),
                                        ("mnist:", "name its folder"),
                                        ("digits:/x", "takes no folder"),
                                        ("", "unknown data set ''")])
def test_load_dataset_bad_spec_is_valueerror(spec, match):
    with pytest.raises(ValueError, match=match):
        data.load_dataset(spec)


@pytest.mark.parametrize("scheme", ["mnist", "cifar10", "har"])
def test_load_dataset_missing_folder_is_named(tmp_path, scheme):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"data folder {missing} not found"):
        data.load_dataset(f"{scheme}:{missing}")
