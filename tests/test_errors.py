"""Every bad argument raises ValueError/TypeError/MemoryError naming it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convinit

X = np.zeros((1, 4, 8, 8), np.float32)
W = np.zeros((6, 2, 3, 3), np.float32)


def conv(**overrides):
    args = dict(input=X, weight=W, bias=None, stride=1, padding=0, dilation=1, groups=2)
    args.update(overrides)
    return convinit.conv2d(**args)


CONV_CASES = [
    (dict(input=np.zeros((4, 8), np.float32)), ValueError, "input"),
    (dict(input=np.zeros((1, 1, 4, 8, 8), np.float32)), ValueError, "input"),
    (dict(weight=np.zeros((6, 2, 3), np.float32)), ValueError, "weight"),
    (dict(groups=3), ValueError, "groups"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=4), ValueError, "groups"),  # 6 out channels not divisible by 4
    (dict(groups=1), ValueError, "weight"),  # 2 channels per group != 4
    (dict(groups=2.0), TypeError, "groups"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, -1)), ValueError, "stride"),
    (dict(stride=(1, 1, 1)), ValueError, "stride"),
    (dict(stride="2"), TypeError, "stride"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding="same", stride=2), ValueError, "padding"),
    (dict(dilation=4), ValueError, "weight"),  # dilated kernel 9 > input 8
    (dict(bias=np.zeros(5, np.float32)), ValueError, "bias"),
    (dict(bias=np.zeros(6, np.float64)), TypeError, "dtype"),
    (dict(weight=W.astype(np.float64)), TypeError, "dtype"),
    (dict(input=X.astype(np.int32)), TypeError, "input"),
    (dict(input=X.astype(np.float16)), TypeError, "input"),
    (dict(input=X.astype(np.complex64)), TypeError, "input"),
    (dict(input=None), TypeError, "input"),
    (dict(input="abc"), TypeError, "input"),
    (dict(input=[[1, 2], [3]]), TypeError, "input"),
]


@pytest.mark.parametrize("overrides, exc, name", CONV_CASES)
def test_conv_bad_arguments(overrides, exc, name):
    with pytest.raises(exc, match=name):
        conv(**overrides)


@pytest.mark.parametrize("mode, pad, size", [("reflect", 8, 8), ("circular", 9, 8), ("sideways", 1, 8)])
def test_padding_mode_limits(mode, pad, size):
    x = np.zeros((1, 1, size, size))
    with pytest.raises(ValueError, match="padding"):
        convinit.conv2d(x, np.zeros((1, 1, 3, 3)), padding=pad, padding_mode=mode)


def test_padding_mode_limits_agree_with_torch():
    # reflect needs pad < size and circular pad <= size, as torch.nn.functional.pad.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3))
    for mode, pad in [("reflect", 3), ("circular", 4), ("replicate", 6)]:
        module = torch.nn.Conv2d(1, 1, 3, padding=pad, padding_mode=mode, bias=False).double()
        with torch.no_grad():
            module.weight.fill_(1.0)
            ref = module(torch.from_numpy(x)).numpy()
        assert np.allclose(convinit.conv2d(x, w, padding=pad, padding_mode=mode), ref)


@pytest.mark.parametrize("threads, exc", [(0, ValueError), (-2, ValueError), (10**6, ValueError), (1.5, TypeError)])
def test_bad_threads(threads, exc):
    with pytest.raises(exc, match="threads"):
        convinit.conv2d(X, W, groups=2, threads=threads)


def test_cuda_or_meta_tensors_are_refused():
    with pytest.raises(TypeError, match="CPU"):
        convinit.conv2d(torch.zeros(1, 1, 4, 4, device="meta"), torch.zeros(1, 1, 2, 2))


def test_huge_output_is_refused_before_allocating():
    # Output (1, 2**20, 2**12, 2**12) float32 = 64 PiB: refused, nothing allocated.
    x = np.broadcast_to(np.float32(0), (1, 1, 2**12, 2**12))
    w = np.broadcast_to(np.float32(0), (2**20, 1, 1, 1))
    with pytest.raises(MemoryError, match="conv2d output"):
        convinit.conv2d(x, w)
    with pytest.raises(MemoryError, match="unfold output"):
        convinit.unfold(np.broadcast_to(np.float32(0), (2**10, 2**10, 64, 64)), 3, padding=1)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: convinit.unfold(np.zeros((2, 2)), 2), ValueError, "input"),
    (lambda: convinit.unfold(np.zeros((1, 1, 4, 4)), 0), ValueError, "kernel_size"),
    (lambda: convinit.unfold(np.zeros((1, 1, 4, 4)), 5), ValueError, "kernel_size"),
    (lambda: convinit.unfold(np.zeros((1, 1, 4, 4)), 2, padding=-1), ValueError, "padding"),
    (lambda: convinit.fold(np.zeros((1, 5, 9)), (4, 4), 2), ValueError, "divisible"),
    (lambda: convinit.fold(np.zeros((1, 4, 8)), (4, 4), 2), ValueError, "sliding blocks"),
    (lambda: convinit.fold(np.zeros((1, 4, 9)), (4, 0), 2), ValueError, "output_size"),
    (lambda: convinit.fold(np.zeros((4, 9, 1, 1)), (4, 4), 2), ValueError, "input"),
    (lambda: convinit.conv_output_size(5, 7), ValueError, "kernel_size"),
    (lambda: convinit.conv_output_size(5, 3, stride=0), ValueError, "stride"),
])
def test_window_function_errors(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_kernel_errors_never_panic():
    # Call the core directly with inconsistent arguments the Python layer would have caught.
    from convinit import _core

    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="stride"):
        _core.conv_forward(x, w, None, ([1], [1, 1], [0, 0], [0, 0], 1, "zeros"), 1)
    with pytest.raises(ValueError, match="weight"):
        _core.conv_forward(x, w, None, ([1, 1], [3, 3], [0, 0], [0, 0], 1, "zeros"), 1)
    with pytest.raises(ValueError, match="groups"):
        _core.conv_forward(x, w, None, ([1, 1], [1, 1], [0, 0], [0, 0], 3, "zeros"), 1)
    with pytest.raises(ValueError, match="padding_mode"):
        _core.conv_forward(x, w, None, ([1, 1], [1, 1], [0, 0], [0, 0], 1, "nope"), 1)
    with pytest.raises(TypeError, match="weight"):
        _core.conv_forward(x, w.astype(np.float64), None, ([1, 1], [1, 1], [0, 0], [0, 0], 1, "zeros"), 1)
    with pytest.raises(TypeError, match="C-contiguous"):
        _core.conv_forward(np.asfortranarray(x), w, None, ([1, 1], [1, 1], [0, 0], [0, 0], 1, "zeros"), 1)
    with pytest.raises(ValueError, match="bias"):
        _core.conv_forward(x, w, np.zeros(3, np.float32), ([1, 1], [1, 1], [0, 0], [0, 0], 1, "zeros"), 1)
