"""Every public argument's parser, in one place: ints or per-axis tuples,
padding strings, thread counts, seeds and streams, shapes, dtypes, flat
ranges and real-valued distribution parameters. Each raises TypeError or
ValueError naming the argument."""

from __future__ import annotations

import operator
from typing import Any, Sequence, Union

import numpy as np
import numpy.typing as npt

from ._dtypes import FILL_DTYPES, dtype_name

# Types of the public signatures. Array arguments are anything NumPy can
# read, CPU torch tensors included (they implement ``__array__``); results are
# float32 or float64 NumPy arrays.
IntOrTuple = Union[int, Sequence[int]]
ShapeLike = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], str]
ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.floating[Any]]

_MAX_THREADS = 1024
# Sizes, strides, paddings... reach the core as machine words: anything past
# the largest signed 64-bit value cannot describe a real array.
MAX_EXTENT = 2**63 - 1
UINT32_END = 1 << 32
UINT64_END = 1 << 64
DTYPES = FILL_DTYPES


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}") from None


def bounded(values: tuple[int, ...], name: str) -> tuple[int, ...]:
    """``values`` unchanged; OverflowError if one does not fit a signed 64-bit word."""
    for v in values:
        if abs(v) > MAX_EXTENT:
            raise OverflowError(f"{name}: {v} does not fit in a signed 64-bit integer")
    return values


def per_axis(value: Any, dims: int, name: str) -> tuple[int, ...]:
    """An int repeated ``dims`` times, or a sequence of exactly ``dims`` ints."""
    if type(value) is int:  # the common case, before the general checks
        return bounded((value,) * dims, name)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected an int or a tuple of {dims} ints, got {value!r}")
    if isinstance(value, Sequence) or hasattr(value, "__len__"):
        values = tuple(as_int(v, name) for v in value)
        if len(values) == 1 and dims != 1:
            values = values * dims
        if len(values) != dims:
            raise ValueError(f"{name}: expected a single int or {dims} values, got {len(values)}")
        return bounded(values, name)
    return bounded((as_int(value, name),) * dims, name)


def positive(value: IntOrTuple, dims: int, name: str) -> tuple[int, ...]:
    values = per_axis(value, dims, name)
    if any(v <= 0 for v in values):
        raise ValueError(f"{name}: must be positive, got {value!r}")
    return values


def non_negative(value: IntOrTuple, dims: int, name: str) -> tuple[int, ...]:
    values = per_axis(value, dims, name)
    if any(v < 0 for v in values):
        raise ValueError(f"{name}: must be non-negative, got {value!r}")
    return values


def conv_padding(
    padding: IntOrTuple | str,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(before, after) padding per axis, as ``torch.nn.functional.conv*d``.

    ``"same"`` pads ``total = dilation * (kernel - 1)`` with ``total // 2``
    before and the rest after, as PyTorch does for even kernels.
    """
    dims = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            zeros = (0,) * dims
            return zeros, zeros
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding: 'same' is not supported for strided convolutions")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            before = tuple(t // 2 for t in total)
            return before, tuple(t - b for t, b in zip(total, before))
        raise ValueError(f"padding: expected an int, a tuple, 'valid' or 'same', got {padding!r}")
    pad = non_negative(padding, dims, "padding")
    return pad, pad


def threads_arg(threads: Any) -> int:
    """0 (all cores) for None, else a positive int."""
    if threads is None:
        return 0
    n = as_int(threads, "threads")
    if not 1 <= n <= _MAX_THREADS:
        raise ValueError(f"threads: expected None or an integer in [1, {_MAX_THREADS}], got {n}")
    return n


def one_of(value: Any, choices: Sequence[str], name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {options}, got {value!r}")
    return value


def unsigned_word(value: Any, name: str, end: int) -> int:
    """An int in [0, end)."""
    number = as_int(value, name)
    if not 0 <= number < end:
        bits = end.bit_length() - 1
        raise ValueError(f"{name}: expected an integer in [0, 2**{bits}), got {number}")
    return number


def seed_arg(seed: Any) -> int:
    """``seed`` as an int in [0, 2**64)."""
    return unsigned_word(seed, "seed", UINT64_END)


def stream_arg(stream: Any) -> int:
    return unsigned_word(stream, "stream", UINT64_END)


def int_sequence(value: Any, name: str) -> Sequence[Any]:
    """``value`` itself if it is a sized non-string sequence."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name}: expected a sequence of integers, got {type(value).__name__}")
    return value


def shape_arg(shape: Any, name: str = "shape") -> tuple[int, ...]:
    """A tuple of non-negative ints (an int is a 1-D shape)."""
    if isinstance(shape, (str, bytes)):
        raise TypeError(f"{name}: expected an int or a sequence of ints, got {shape!r}")
    dims = (as_int(shape, name),) if not hasattr(shape, "__len__") else tuple(as_int(d, name) for d in shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: dimensions must be non-negative, got {dims}")
    return dims


def dtype_arg(dtype: Any) -> str:
    """'float32', 'float64', 'bfloat16' or 'float16' from a name, NumPy
    (or ml_dtypes) dtype or torch dtype."""
    return dtype_name(dtype)


def flat_range_arg(flat_range: Any, numel: int) -> tuple[int, int]:
    """(start, stop) with 0 <= start <= stop <= numel; the whole range for None."""
    if flat_range is None:
        return 0, numel
    if isinstance(flat_range, (str, bytes)) or not hasattr(flat_range, "__len__") or len(flat_range) != 2:
        raise TypeError(f"flat_range: expected (start, stop), got {flat_range!r}")
    start, stop = (as_int(v, "flat_range") for v in flat_range)
    if not 0 <= start <= stop <= numel:
        raise ValueError(f"flat_range: expected 0 <= start <= stop <= numel = {numel}, got ({start}, {stop})")
    return start, stop


def _bound(value: Any, dim: int, axis: int) -> int:
    bound = as_int(value, "region")
    if not -dim <= bound <= dim:
        raise ValueError(f"region: axis {axis}: index {bound} is outside [-{dim}, {dim}]")
    return bound + dim if bound < 0 else bound


def _axis_range(item: Any, dim: int, axis: int) -> tuple[int, int]:
    if isinstance(item, slice):
        if item.step not in (None, 1):
            raise ValueError(f"region: axis {axis}: expected a slice with step 1, got step {item.step!r}")
        start = 0 if item.start is None else _bound(item.start, dim, axis)
        stop = dim if item.stop is None else _bound(item.stop, dim, axis)
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        start, stop = (as_int(v, "region") for v in item)
        if not 0 <= start <= dim or not 0 <= stop <= dim:
            raise ValueError(f"region: axis {axis}: expected 0 <= start <= stop <= {dim}, got ({start}, {stop})")
    else:
        raise TypeError(f"region: axis {axis}: expected a slice or a (start, stop) pair, got {item!r}")
    if start > stop:
        raise ValueError(f"region: axis {axis}: start {start} is past stop {stop}")
    return start, stop


def region_arg(region: Any, shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, stop) per axis from a tuple of step-1 slices or (start, stop)
    pairs, one per axis of ``shape``, all inside it (negative slice bounds
    count from the end, as in NumPy; nothing is clipped)."""
    if isinstance(region, slice):
        region = (region,)
    if isinstance(region, (str, bytes)) or not isinstance(region, (tuple, list)):
        raise TypeError(f"region: expected a tuple of slices or (start, stop) pairs, got {region!r}")
    if len(region) != len(shape):
        raise ValueError(f"region: expected {len(shape)} axes for shape {shape}, got {len(region)}")
    return [_axis_range(item, dim, axis) for axis, (item, dim) in enumerate(zip(region, shape))]


def float_param(value: Any, name: str) -> float:
    """A real number (Python or NumPy int/float, not bool) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return float(value)
