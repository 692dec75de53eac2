"""Datasets for the training experiment: scikit-learn's digits (shipped
with the package) and MNIST from IDX files."""

from __future__ import annotations

import gzip
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# IDX element types (the third byte of the magic number).
_IDX_TYPES: dict[int, npt.DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class Split:
    """Images (N, 1, H, W) float32 in [0, 1] and integer labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    name: str


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, optionally gzipped) as an array.

    Header: two zero bytes, a type byte, a dimension count, then one
    big-endian uint32 per dimension.
    """
    path = Path(path)
    with _open(path) as f:
        header = f.read(4)
        if len(header) != 4 or header[:2] != b"\0\0" or header[2] not in _IDX_TYPES:
            raise ValueError(f"{path}: not an IDX file (magic {header.hex()})")
        dims = struct.unpack(f">{header[3]}I", f.read(4 * header[3]))
        dtype = np.dtype(_IDX_TYPES[header[2]])
        data = f.read()
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: expected {expected} bytes of data for shape {dims}, found {len(data)}")
    return np.frombuffer(data, dtype).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise ValueError(f"data-dir: {directory} has no {stem}[.gz]")


def load_mnist(directory) -> Split:
    d = Path(directory)
    read = lambda stem: read_idx(_find(d, stem))
    images = lambda stem: (read(stem).astype(np.float32) / 255.0)[:, None]
    return Split(images("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte").astype(np.int64),
                 images("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte").astype(np.int64), "mnist")


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn's 1,797 8x8 digits, split by a seeded permutation."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Split(x[train], y[train], x[test], y[test], "digits")


def write_idx(path, array: np.ndarray) -> None:
    """Writes ``array`` (uint8) as an IDX file; for tests and small samples."""
    array = np.ascontiguousarray(array, np.uint8)
    header = b"\0\0\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
