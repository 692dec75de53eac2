"""Shared helpers for the conformance suite."""

from __future__ import annotations

import numpy as np
import pytest

# Tolerances of docs/design.md: max |got - ref| / max |ref|, against a float64 reference.
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def relative_max_error(got: np.ndarray, ref: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"shape {got.shape} != reference {ref.shape}"
    if ref.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(ref))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got - ref))) / scale


def assert_close(got: np.ndarray, ref: np.ndarray, dtype) -> None:
    assert np.asarray(got).dtype == np.dtype(dtype), f"dtype {np.asarray(got).dtype} != {dtype}"
    err = relative_max_error(got, ref)
    tol = TOLERANCE[np.dtype(dtype)]
    assert err <= tol, f"relative max error {err:.3g} > {tol:g}"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
