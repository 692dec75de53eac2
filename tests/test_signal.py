"""convinit.correlate2d/convolve2d against scipy.signal."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import convinit
from conftest import TOLERANCE

PAIRS = [(convinit.correlate2d, scipy.signal.correlate2d), (convinit.convolve2d, scipy.signal.convolve2d)]


@st.composite
def problems(draw):
    s1 = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    s2 = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    boundary = draw(st.sampled_from(["fill", "wrap", "symm"]))
    fillvalue = draw(st.sampled_from([0, 0, 1.5, -2]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return s1, s2, mode, boundary, fillvalue, dtype, draw(st.integers(0, 2**31)), draw(st.integers(0, 1))


@settings(max_examples=400, deadline=None)
@given(problems())
def test_matches_scipy(problem):
    s1, s2, mode, boundary, fillvalue, dtype, seed, which = problem
    mine, ref_fn = PAIRS[which]
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(s1).astype(dtype), rng.standard_normal(s2).astype(dtype)
    try:
        ref = ref_fn(a.astype(np.float64), b.astype(np.float64), mode=mode, boundary=boundary, fillvalue=fillvalue)
    except ValueError:
        with pytest.raises(ValueError, match="in1, in2"):
            mine(a, b, mode=mode, boundary=boundary, fillvalue=fillvalue)
        return
    got = mine(a, b, mode=mode, boundary=boundary, fillvalue=fillvalue)
    # Scale the error by the sum of |terms| (the bound of a rounded dot
    # product): outputs of a few products can cancel to near zero.
    terms = ref_fn(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64), mode=mode, boundary=boundary,
                   fillvalue=abs(fillvalue))
    assert got.dtype == dtype
    err = np.max(np.abs(got - ref)) / max(np.max(terms), 1e-300)
    assert err <= TOLERANCE[np.dtype(dtype)], f"error {err:.3g} relative to the summed |terms|"


def test_integer_lists_compute_in_float64():
    a = [[1, 2, 3], [4, 5, 6], [7, 8, 10]]
    b = [[1, -1], [2, 0]]
    for mine, ref_fn in PAIRS:
        got = mine(a, b, mode="same", boundary="symm")
        assert got.dtype == np.float64
        assert np.array_equal(got, ref_fn(a, b, mode="same", boundary="symm"))


def test_mixed_precision_promotes_to_float64(rng):
    a = rng.standard_normal((5, 5)).astype(np.float32)
    b = rng.standard_normal((2, 2))
    assert convinit.correlate2d(a, b).dtype == np.float64
    assert convinit.correlate2d(a, b.astype(np.float32)).dtype == np.float32


def test_scipy_boundary_synonyms(rng):
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((3, 3))
    for alias, name in [("pad", "fill"), ("circular", "wrap"), ("symmetric", "symm")]:
        assert np.array_equal(convinit.correlate2d(a, b, boundary=alias), convinit.correlate2d(a, b, boundary=name))


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "sideways"}, "mode"),
    ({"boundary": "mirror"}, "boundary"),
    ({"fillvalue": [1, 2]}, "fillvalue"),
])
def test_bad_arguments(kwargs, match, rng):
    with pytest.raises(ValueError, match=match):
        convinit.correlate2d(rng.standard_normal((4, 4)), rng.standard_normal((2, 2)), **kwargs)


def test_non_2d_and_complex_inputs_are_refused(rng):
    with pytest.raises(ValueError, match="in1"):
        convinit.correlate2d(rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 2)))
    with pytest.raises(TypeError, match="in2"):
        convinit.convolve2d(rng.standard_normal((4, 4)), np.ones((2, 2), complex))


@pytest.mark.parametrize("fillvalue", [np.array(2.0), np.array([2.0]), np.array([[2]]), np.float32(2.0)])
def test_fillvalue_as_one_element_array_like_scipy(fillvalue):
    a = np.arange(12.0).reshape(3, 4)
    b = np.array([[1.0, -2.0], [0.5, 3.0]])
    for mine, ref in ((convinit.correlate2d, scipy.signal.correlate2d), (convinit.convolve2d, scipy.signal.convolve2d)):
        np.testing.assert_allclose(mine(a, b, fillvalue=fillvalue), ref(a, b, fillvalue=fillvalue), rtol=1e-12)
    with pytest.raises(ValueError, match="fillvalue"):
        convinit.correlate2d(a, b, fillvalue=np.array([2.0, 3.0]))
