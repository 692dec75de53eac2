"""Helpers shared by the suites: seeded test data, array comparisons, thread runs."""

from __future__ import annotations

import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..backends import accepts
from ..records import Check, error_check

# DESIGN.md: max|got - ref| / max|ref| against a float64 reference (float32 up to K = C*kh*kw = 4608).
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def case_rng(seed: int, label: str) -> np.random.Generator:
    """Test data that depends on --seed and the case, not on the order cases run in."""
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


def case_seed(seed: int, label: str) -> int:
    return int(case_rng(seed, label).integers(2 ** 31))


def as_array(value: Any) -> np.ndarray:
    """NumPy view of an ndarray, CPU torch tensor or array-like."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().numpy()
    return np.asarray(value)


def relative_max_error(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if want.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), np.finfo(np.float64).tiny)


def compare_arrays(name: str, reference: str, got: Any, want: Any, dtype: Any) -> Check:
    """Relative max error of ``got`` (expected dtype ``dtype``) against a float64 reference."""
    got, want = as_array(got), np.asarray(want)
    dtype = np.dtype(dtype)
    tolerance = TOLERANCE[dtype]
    if got.shape != want.shape:
        return error_check(name, reference, "rel. max error", math.inf, tolerance,
                           f"shape {got.shape}, reference {want.shape}")
    if got.dtype != dtype:
        return error_check(name, reference, "rel. max error", math.inf, tolerance,
                           f"returned {got.dtype} for {dtype} input")
    return error_check(name, reference, "rel. max error", relative_max_error(got, want), tolerance)


def bit_mismatches(got: Any, want: Any) -> int:
    """Elements whose bits differ (all of them when shape or dtype differ)."""
    got, want = as_array(got), as_array(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return max(got.size, want.size, 1)
    a = np.ascontiguousarray(got).view(np.uint8).reshape(got.size, -1)
    b = np.ascontiguousarray(want).view(np.uint8).reshape(want.size, -1)
    return int(np.any(a != b, axis=1).sum())


def thread_variants(fn: Callable, call: Callable[..., Any], keys: Sequence[int]) -> tuple[int, list[str]]:
    """Bit differences between serial calls ``call(fn, key)`` and the same calls
    (a) from 4 concurrent Python threads in another order and (b) with
    ``threads=1, 2, 3, None`` when ``fn`` takes ``threads``."""
    serial = {k: call(fn, k) for k in keys}
    order = list(keys)[::-1] * 2
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda k: (k, call(fn, k)), order))
    mismatches, notes = 0, []
    bad = sum(bit_mismatches(out, serial[k]) for k, out in concurrent)
    mismatches += bad
    notes.append(f"{len(order)} calls from 4 threads: {bad} elements differ")
    if accepts(fn, "threads"):
        for threads in (1, 2, 3, None):
            bad = bit_mismatches(call(fn, keys[0], threads=threads), serial[keys[0]])
            mismatches += bad
            notes.append(f"threads={threads}: {bad}")
    else:
        notes.append("no threads= parameter")
    return mismatches, notes
