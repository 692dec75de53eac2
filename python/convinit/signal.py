"""2-D correlation and convolution with ``scipy.signal.correlate2d`` /
``convolve2d`` semantics, computed by the Rust convolution core."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _core
from ._args import ArrayLike, FloatArray, one_of, threads_arg
from ._arrays import c_contiguous, check_allocation, to_numpy

__all__ = ["correlate2d", "convolve2d"]

MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm")
# SciPy's accepted synonyms.
_BOUNDARY_ALIASES = {"pad": "fill", "circular": "wrap", "symmetric": "symm"}


def _as_2d(obj: Any, name: str) -> np.ndarray:
    array = to_numpy(obj, name)
    if array.dtype.kind == "c":
        raise TypeError(f"{name}: complex input is not supported; use scipy.signal for complex data")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name}: correlate2d/convolve2d inputs must both be 2-D arrays, got shape {array.shape}")
    return array


def _result_dtype(a: np.ndarray, b: np.ndarray) -> np.dtype:
    """float32 only when both inputs are float32; everything else in float64."""
    both32 = a.dtype == np.float32 and b.dtype == np.float32
    return np.dtype(np.float32 if both32 else np.float64)


def _swap_needed(mode: str, s1: tuple[int, ...], s2: tuple[int, ...]) -> bool:
    """In 'valid' mode SciPy lets the larger array come second (and swaps)."""
    if mode != "valid":
        return False
    if all(a >= b for a, b in zip(s1, s2)):
        return False
    if all(b >= a for a, b in zip(s1, s2)):
        return True
    raise ValueError(
        "in1, in2: for 'valid' mode, one must be at least as large as the other in every dimension, "
        f"got shapes {s1} and {s2}"
    )


def _source_index(pos: np.ndarray, n: int, boundary: str) -> np.ndarray:
    """Input index read at padded position ``pos`` (-1: the fill value).

    'wrap' is periodic with period n; 'symm' mirrors including the edge
    sample, periodic with period 2n (so kernels longer than the input keep
    reflecting, as in SciPy).
    """
    if boundary == "wrap":
        return np.mod(pos, n)
    if boundary == "symm":
        m = np.mod(pos, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    return np.where((pos >= 0) & (pos < n), pos, -1)


def _output_window(mode: str, n: int, k: int, flipped: bool) -> tuple[int, int]:
    """(first full-output index, length) of the requested output along one axis."""
    if mode == "full":
        return 0, n + k - 1
    if mode == "valid":
        return k - 1, n - k + 1
    # 'same' is centred on the full output; for even kernels SciPy's
    # correlation and convolution round the centre in opposite directions.
    return ((k - 1) // 2 if flipped else k // 2), n


def _padded(x: np.ndarray, kernel: tuple[int, ...], mode: str, boundary: str, fillvalue: Any,
            flipped: bool) -> np.ndarray:
    """The region of the boundary-extended input that the output reads."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for axis, index_list in ((0, rows), (1, cols)):
        n, k = x.shape[axis], kernel[axis]
        first, length = _output_window(mode, n, k, flipped)
        pos = np.arange(first, first + max(length, 0) + k - 1) - (k - 1)
        index_list.append(_source_index(pos, n, boundary))
    r, c = rows[0], cols[0]
    out = x[np.clip(r, 0, None)[:, None], np.clip(c, 0, None)[None, :]] if x.size else np.zeros((r.size, c.size))
    out = np.asarray(out, dtype=x.dtype)
    out[(r[:, None] < 0) | (c[None, :] < 0)] = fillvalue
    return out


def _correlate(in1: Any, in2: Any, mode: str, boundary: str, fillvalue: Any, flipped: bool,
               threads: Any) -> np.ndarray:
    a, b = _as_2d(in1, "in1"), _as_2d(in2, "in2")
    mode = one_of(mode, MODES, "mode")
    if isinstance(boundary, str):
        boundary = _BOUNDARY_ALIASES.get(boundary, boundary)
    boundary = one_of(boundary, BOUNDARIES, "boundary")
    if not np.isscalar(fillvalue) or isinstance(fillvalue, (str, bytes)):
        raise ValueError(f"fillvalue: expected a scalar, got {fillvalue!r}")
    if np.iscomplexobj(fillvalue):
        raise TypeError("fillvalue: complex values are not supported")
    dtype = _result_dtype(a, b)
    swapped = _swap_needed(mode, a.shape, b.shape)
    if swapped:
        a, b = b, a
    if a.size == 0 or b.size == 0:
        raise ValueError("in1, in2: inputs must not be empty")
    kernel = b[::-1, ::-1] if flipped else b
    shape = [_output_window(mode, n, k, flipped)[1] for n, k in zip(a.shape, b.shape)]
    check_allocation(tuple(shape), dtype, "correlate2d output")
    check_allocation(a.shape, dtype, "in1: a float copy")
    # The boundary-extended input the kernel slides over is larger still.
    check_allocation(tuple(max(n, 0) + k - 1 for n, k in zip(shape, b.shape)), dtype, "in1: the padded input")
    x = _padded(np.asarray(a, dtype=dtype), b.shape, mode, boundary, fillvalue, flipped)
    out = _core.conv_forward(
        c_contiguous(x[None, None], dtype, "in1"), c_contiguous(kernel[None, None], dtype, "in2"), None,
        ([1, 1], [1, 1], [0, 0], [0, 0], 1, "zeros"), threads_arg(threads),
    )[0, 0]
    # Correlation with swapped inputs is the flipped correlation.
    return out[::-1, ::-1].copy() if swapped and not flipped else out


def correlate2d(in1: ArrayLike, in2: ArrayLike, mode: str = "full", boundary: str = "fill", fillvalue: float = 0, *,
                threads: Optional[int] = None) -> FloatArray:
    """Cross-correlate two 2-D arrays, as ``scipy.signal.correlate2d``.

    ``out[i, j] = sum_{k, l} in1_ext[i + k, j + l] * in2[k, l]`` where ``in1_ext``
    is ``in1`` extended by ``boundary`` ('fill' with ``fillvalue``, 'wrap',
    'symm'); ``mode`` picks the 'full', 'same' (as in1) or 'valid' part.
    Integer inputs are computed in float64; float32 inputs give float32.
    """
    return _correlate(in1, in2, mode, boundary, fillvalue, False, threads)


def convolve2d(in1: ArrayLike, in2: ArrayLike, mode: str = "full", boundary: str = "fill", fillvalue: float = 0, *,
               threads: Optional[int] = None) -> FloatArray:
    """Convolve two 2-D arrays, as ``scipy.signal.convolve2d`` (``in2`` flipped)."""
    return _correlate(in1, in2, mode, boundary, fillvalue, True, threads)
