"""IDX reading (MNIST's format) and the digits split used by experiment train."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from convinit.experiments.data import load_digits, load_mnist, read_idx, write_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoded by hand from the format's definition, independent of write_idx."""
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix, rng):
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / f"imgs{suffix}"
    data = idx_bytes(images)
    path.write_bytes(gzip.compress(data) if suffix else data)
    assert np.array_equal(read_idx(path), images)
    write_idx(tmp_path / f"again{suffix}", images)
    assert np.array_equal(read_idx(tmp_path / f"again{suffix}"), images)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04abcdefgh")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    short = idx_bytes(np.zeros((2, 3), np.uint8))[:-1]
    (tmp_path / "short").write_bytes(short)
    with pytest.raises(ValueError, match="expected 6 bytes"):
        read_idx(tmp_path / "short")


def test_load_mnist_from_a_folder(tmp_path, rng):
    for stem, n in [("train", 12), ("t10k", 5)]:
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    split = load_mnist(tmp_path)
    assert split.train_x.shape == (12, 1, 28, 28) and split.test_y.shape == (5,)
    assert split.train_x.dtype == np.float32 and 0.0 <= split.train_x.min() and split.train_x.max() <= 1.0
    with pytest.raises(ValueError, match="t10k-images"):
        (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
        load_mnist(tmp_path)


def test_digits_split_is_seeded_and_disjoint():
    a, b = load_digits(0), load_digits(0)
    assert np.array_equal(a.test_y, b.test_y) and len(a.test_y) == 359 and len(a.train_y) == 1438
    assert a.train_x.shape[1:] == (1, 8, 8) and a.train_x.max() <= 1.0
    assert not np.array_equal(load_digits(1).test_y, a.test_y)
