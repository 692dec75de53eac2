"""convinit.unfold/fold against torch.nn.functional.unfold/fold."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convinit
from conftest import assert_close


@st.composite
def windows(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), d * (k - 1) + 8))
        for k, d, p in zip(kernel, dilation, padding)
    )
    as_ints = draw(st.booleans()) and kernel[0] == kernel[1] and dilation[0] == dilation[1]
    as_ints = as_ints and padding[0] == padding[1] and stride[0] == stride[1]
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    if as_ints:
        args = {k: v[0] for k, v in args.items()}
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return size, args, dtype, draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 2**31))


@settings(max_examples=150, deadline=None)
@given(windows())
def test_unfold_matches_torch(problem):
    size, args, dtype, n, c, seed = problem
    x = np.random.default_rng(seed).standard_normal((n, c, *size)).astype(dtype)
    ref = F.unfold(torch.from_numpy(x.astype(np.float64)), **args).numpy()
    assert_close(convinit.unfold(x, **args), ref, dtype)


@settings(max_examples=150, deadline=None)
@given(windows())
def test_fold_matches_torch(problem):
    size, args, dtype, n, c, seed = problem
    blocks = convinit.unfold(np.zeros((1, 1, *size)), **args).shape
    cols = np.random.default_rng(seed).standard_normal((n, c * blocks[1], blocks[2])).astype(dtype)
    ref = F.fold(torch.from_numpy(cols.astype(np.float64)), output_size=size, **args).numpy()
    assert_close(convinit.fold(cols, size, **args), ref, dtype)


def test_unbatched_forms(rng):
    x = rng.standard_normal((2, 6, 5))
    cols = convinit.unfold(x, 3, padding=1)
    assert_close(cols, F.unfold(torch.from_numpy(x), 3, padding=1).numpy(), np.float64)
    back = convinit.fold(cols, (6, 5), 3, padding=1)
    assert_close(back, F.fold(torch.from_numpy(cols), (6, 5), 3, padding=1).numpy(), np.float64)


def test_fold_of_unfold_counts_overlaps(rng):
    # fold(unfold(x)) multiplies each pixel by the number of windows covering it.
    x = rng.standard_normal((1, 1, 5, 5))
    ones = np.ones_like(x)
    counts = convinit.fold(convinit.unfold(ones, 3), (5, 5), 3)
    assert_close(convinit.fold(convinit.unfold(x, 3), (5, 5), 3), x * counts, np.float64)
    assert counts[0, 0, 2, 2] == 9 and counts[0, 0, 0, 0] == 1
