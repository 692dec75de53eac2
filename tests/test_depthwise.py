"""The depthwise / small-group kernels (algorithm="depthwise", which "auto"
picks for groups > 1 with at most 8 input channels per group) against
torch: forward and autograd's backward, float32 and float64, every padding
mode, strides, dilations and channel multipliers, plus batch invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convinit

# (input shape, weight shape, stride, padding, dilation, groups, padding_mode)
LAYERS = [
    ((2, 32, 15, 15), (32, 1, 3, 3), 1, 1, 1, 32, "zeros"),          # MobileNet 3x3
    ((2, 24, 16, 13), (24, 1, 3, 3), 2, 1, 1, 24, "zeros"),          # stride 2
    ((1, 20, 40, 40), (20, 1, 5, 5), 2, 2, 1, 20, "reflect"),        # EfficientNet 5x5, plane path
    ((3, 16, 9, 9), (16, 1, 7, 7), 1, 3, 1, 16, "circular"),         # ConvNeXt 7x7
    ((2, 8, 12, 11), (16, 1, 3, 3), 1, 2, 2, 8, "replicate"),        # multiplier 2, dilation 2
    ((2, 12, 10, 10), (12, 3, 3, 3), (1, 2), (1, 0), 1, 4, "zeros"), # 3 channels per group
    ((1, 8, 33, 35), (8, 1, 3, 3), 1, 1, 1, 8, "reflect"),           # plane path, stride 1
]


def torch_conv(x, w, s, p, d, g, mode):
    if mode == "zeros":
        return torch.nn.functional.conv2d(x, w, stride=s, padding=p, dilation=d, groups=g)
    pads = (p, p) if isinstance(p, int) else p
    padded = torch.nn.functional.pad(x, (pads[1], pads[1], pads[0], pads[0]), mode=mode)
    return torch.nn.functional.conv2d(padded, w, stride=s, dilation=d, groups=g)


def relative_error(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: f"{layer[0]}*{layer[1]}-{layer[6]}")
def test_forward_and_backward_match_torch_autograd(layer, dtype, tol):
    xs, ws, s, p, d, g, mode = layer
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    assert convinit.conv_algorithm(x, w, s, p, d, g, mode) == "depthwise"
    xt = torch.from_numpy(x).double().requires_grad_()
    wt = torch.from_numpy(w).double().requires_grad_()
    yt = torch_conv(xt, wt, s, p, d, g, mode) + torch.from_numpy(b).double()[:, None, None]
    y = convinit.conv2d(x, w, b, s, p, d, g, mode)
    assert y.dtype == dtype and relative_error(y, yt.detach().numpy()) <= tol
    dy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(dy).double())
    dx, dw, db = convinit.conv2d_backward(x, w, dy, s, p, d, g, padding_mode=mode)
    assert relative_error(dx, xt.grad.numpy()) <= tol
    assert relative_error(dw, wt.grad.numpy()) <= tol
    assert relative_error(db, dy.sum(axis=(0, 2, 3), dtype=np.float64)) <= tol
    # im2col, the reference path, agrees too.
    y_ref = convinit.conv2d(x, w, b, s, p, d, g, mode, algorithm="im2col")
    assert relative_error(y, y_ref) <= tol


@pytest.mark.parametrize("layer", LAYERS[:4], ids=lambda layer: f"{layer[0]}*{layer[1]}")
def test_each_image_and_thread_count_gets_the_same_bits(layer):
    xs, ws, s, p, d, g, mode = layer
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5,) + xs[1:]).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    y = convinit.conv2d(x, w, None, s, p, d, g, mode)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, _ = convinit.conv2d_backward(x, w, dy, s, p, d, g, padding_mode=mode)
    for threads in (1, 3):
        dx_t, dw_t, _ = convinit.conv2d_backward(x, w, dy, s, p, d, g, padding_mode=mode, threads=threads)
        assert np.array_equal(convinit.conv2d(x, w, None, s, p, d, g, mode, threads=threads), y)
        assert np.array_equal(dx_t, dx) and np.array_equal(dw_t, dw)
    for i, j in [(0, 1), (2, 5), (1, 4)]:
        assert np.array_equal(convinit.conv2d(x[i:j], w, None, s, p, d, g, mode), y[i:j])
        dx_part, _, _ = convinit.conv2d_backward(x[i:j], w, dy[i:j], s, p, d, g, padding_mode=mode)
        assert np.array_equal(dx_part, dx[i:j])


def test_conv1d_and_conv3d_depthwise_match_torch():
    rng = np.random.default_rng(3)
    x1, w1 = rng.standard_normal((2, 6, 50)), rng.standard_normal((6, 1, 5))
    want1 = torch.nn.functional.conv1d(torch.from_numpy(x1), torch.from_numpy(w1), stride=2, padding=2, groups=6)
    assert relative_error(convinit.conv1d(x1, w1, None, 2, 2, 1, 6), want1.numpy()) <= 1e-12
    x3, w3 = rng.standard_normal((1, 4, 6, 7, 8)), rng.standard_normal((8, 1, 3, 3, 3))
    want3 = torch.nn.functional.conv3d(torch.from_numpy(x3), torch.from_numpy(w3), padding=1, groups=4)
    assert relative_error(convinit.conv3d(x3, w3, None, 1, 1, 1, 4), want3.numpy()) <= 1e-12


def test_more_than_eight_channels_per_group_stay_on_the_dense_kernels():
    x, w = np.ones((1, 32, 8, 8), np.float32), np.ones((32, 16, 3, 3), np.float32)
    assert convinit.conv_algorithm(x, w, 1, 1, 1, 2) in ("im2col", "implicit_gemm")
    with pytest.raises(ValueError, match="algorithm"):
        convinit.conv2d(x, w, None, 1, 1, 1, 2, algorithm="depthwise")
