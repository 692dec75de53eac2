"""Turning array-likes into the C-contiguous float arrays the core reads."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_torch_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def to_numpy(obj: Any, name: str) -> np.ndarray:
    """A NumPy view or copy of an ndarray, CPU torch tensor or nested list.

    Lists and scalars of Python ints/bools are read as float64, so the
    textbook ``[[1, 2, 3], ...]`` kernels work; arrays keep their dtype.
    """
    if isinstance(obj, np.ndarray):
        return obj
    if is_torch_tensor(obj):
        if obj.device.type != "cpu":
            raise TypeError(f"{name}: expected a CPU tensor, got one on {obj.device}")
        return obj.detach().resolve_conj().resolve_neg().numpy()
    if obj is None or isinstance(obj, (str, bytes, dict, set)):
        raise TypeError(f"{name}: expected an array-like of numbers, got {type(obj).__name__}")
    try:
        array = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name}: cannot read {type(obj).__name__} as an array ({exc})") from None
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    if array.dtype == object:
        raise TypeError(f"{name}: expected an array-like of numbers, got ragged or non-numeric data")
    return array


def float_array(obj: Any, name: str) -> np.ndarray:
    """``obj`` as a native-endian float32/float64 array (any strides)."""
    array = to_numpy(obj, name)
    if array.dtype in FLOAT_DTYPES:  # native float32/float64: the common case, checked first
        return array
    if array.dtype.kind != "f" or np.dtype(array.dtype.name) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {array.dtype}")
    return array


def same_dtype(arrays: dict[str, np.ndarray | None]) -> np.dtype:
    """The common dtype of the named arrays; TypeError if they differ (as torch)."""
    common = _one_native_float(arrays)
    if common is not None:
        return common
    present = {name: a.dtype for name, a in arrays.items() if a is not None}
    dtypes = set(present.values())
    if len(dtypes) > 1 or not dtypes <= set(FLOAT_DTYPES):  # compare by name, whatever the byte order
        dtypes = {np.dtype(d.name) for d in present.values()}
    if len(dtypes) > 1:
        found = ", ".join(f"{n}={d.name}" for n, d in present.items())
        raise TypeError(f"input, weight and bias must have the same dtype, got {found}")
    return dtypes.pop()


def _one_native_float(arrays: dict[str, np.ndarray | None]) -> np.dtype | None:
    """The arrays' dtype if they all share one native float dtype object
    (NumPy hands out one per type), else None: the common case of
    ``same_dtype`` in a plain loop, 0.4 us against its general path's 3 us."""
    first = None
    for array in arrays.values():
        if array is None:
            continue
        dtype = array.dtype
        if first is None:
            first = dtype
        elif dtype is not first:
            return None
    return first if first is FLOAT_DTYPES[0] or first is FLOAT_DTYPES[1] else None


def c_contiguous(array: np.ndarray, dtype: np.dtype, name: str = "input") -> np.ndarray:
    """A C-contiguous native-endian copy, or the array itself if it is one.

    A strided view (a broadcast one costs no memory) can need a copy larger
    than the machine: that is refused with MemoryError before copying.
    """
    if array.dtype == dtype and dtype in FLOAT_DTYPES and array.flags.c_contiguous:
        return array
    target = np.dtype(dtype.name)
    if not (array.flags.c_contiguous and array.dtype == target):
        check_allocation(array.shape, target, f"{name}: a C-contiguous copy")
    return np.ascontiguousarray(array, dtype=target)


@functools.lru_cache(maxsize=None)
def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def check_allocation(shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
    """MemoryError, before allocating, if an array of ``shape`` cannot fit in RAM."""
    count = 1
    for dim in shape:
        count *= int(dim)
    need = count * np.dtype(dtype).itemsize
    have = physical_memory()
    if need > have:
        raise MemoryError(
            f"{what} of shape {tuple(shape)} needs {need / 2**30:.3g} GiB, "
            f"more than this machine's {have / 2**30:.3g} GiB of memory"
        )
