"""conv{1,2,3}d_backward, conv_transpose2d and convinit.torch.Conv2d against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convinit
import convinit.torch as ct
from conftest import assert_close

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-11}


def assert_grad_close(got, ref, dtype):
    got64, ref64 = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    err = np.max(np.abs(got64 - ref64)) / max(np.max(np.abs(ref64)), 1e-300) if ref64.size else 0.0
    assert np.asarray(got).dtype == dtype and err <= TOLERANCE[dtype], f"relative max error {err:.3g}"


def torch_grads(x, w, b, dy, stride, padding, dilation, groups, padding_mode):
    """Autograd through nn.Conv1d, 2d or 3d in float64 (it pads first for non-zero modes)."""
    module_type = {3: torch.nn.Conv1d, 4: torch.nn.Conv2d, 5: torch.nn.Conv3d}[x.ndim]
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    module = module_type(w.shape[1] * groups, w.shape[0], w.shape[2:], stride=stride, padding=padding,
                         dilation=dilation, groups=groups, padding_mode=padding_mode).double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w.astype(np.float64)))
        module.bias.copy_(torch.from_numpy(b.astype(np.float64)))
    module(tx).backward(torch.from_numpy(dy.astype(np.float64)))
    return tx.grad.numpy(), module.weight.grad.numpy(), module.bias.grad.numpy()


@st.composite
def problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    if draw(st.booleans()):
        padding, stride, pads = "same", (1, 1), tuple(d * (k - 1) - d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    else:
        pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        padding, stride = pads, (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(draw(st.integers(max(d * (k - 1) + 1 - 2 * p, p + 1, 1), max(d * (k - 1) + 1, p + 1) + 6))
                 for k, d, p in zip(kernel, dilation, pads))
    return dict(groups=groups, cg=cg, og=og, kernel=kernel, dilation=dilation, padding_mode=padding_mode,
                padding=padding, stride=stride, size=size, batch=draw(st.integers(1, 3)),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**31)))


@settings(max_examples=120, deadline=None)
@given(problems())
def test_gradients_match_torch_autograd(p):
    check_gradients(2, p)


@st.composite
def problems_nd(draw, spatial):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(spatial))
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    size = tuple(draw(st.integers(max(d * (k - 1) + 1 - 2 * p, p + 1, 1), max(d * (k - 1) + 1, p + 1) + 4))
                 for k, d, p in zip(kernel, dilation, pads))
    return dict(groups=groups, cg=cg, og=og, kernel=kernel, dilation=dilation, padding_mode=padding_mode,
                padding=pads, stride=stride, size=size, batch=draw(st.integers(1, 3)),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**31)))


def check_gradients(spatial, p):
    """conv{spatial}d_backward of a drawn problem against torch autograd in float64."""
    rng = np.random.default_rng(p["seed"])
    dt = p["dtype"]
    x = rng.standard_normal((p["batch"], p["groups"] * p["cg"], *p["size"])).astype(dt)
    w = rng.standard_normal((p["groups"] * p["og"], p["cg"], *p["kernel"])).astype(dt)
    b = rng.standard_normal(p["groups"] * p["og"]).astype(dt)
    args = (p["stride"], p["padding"], p["dilation"], p["groups"])
    forward = getattr(convinit, f"conv{spatial}d")
    backward = getattr(convinit, f"conv{spatial}d_backward")
    y = forward(x, w, b, *args, padding_mode=p["padding_mode"])
    dy = rng.standard_normal(y.shape).astype(dt)
    got = backward(x, w, dy, *args, padding_mode=p["padding_mode"])
    ref = torch_grads(x, w, b, dy, *args, p["padding_mode"])
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        assert_grad_close(g, r, dt)


@settings(max_examples=60, deadline=None)
@given(problems_nd(1))
def test_conv1d_gradients_match_torch_autograd(p):
    check_gradients(1, p)


@settings(max_examples=60, deadline=None)
@given(problems_nd(3))
def test_conv3d_gradients_match_torch_autograd(p):
    check_gradients(3, p)


# R3D-18-like 3-D layers (stride 1 and 2, the stem's few channels, a 1x1x1
# downsample) and wav2vec 2.0-like 1-D layers, large enough that the
# vector kernels and several tasks per thread run.
LAYERS_ND = [
    ((1, 16, 6, 14, 14), (24, 16, 3, 3, 3), 1, 1, 1),
    ((2, 16, 6, 14, 14), (32, 16, 3, 3, 3), 2, 1, 1),
    ((1, 3, 6, 30, 30), (16, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3), 1),
    ((2, 16, 6, 14, 14), (32, 16, 1, 1, 1), 2, 0, 1),
    ((2, 32, 5, 9, 9), (32, 1, 3, 3, 3), 1, 1, 32),
    ((1, 1, 800), (64, 1, 10), 5, 0, 1),
    ((2, 64, 199), (64, 64, 3), 2, 0, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", LAYERS_ND, ids=lambda layer: f"{layer[0]}*{layer[1]}")
def test_network_layers_in_1d_and_3d_match_torch_and_every_thread_count(layer, dtype):
    xs, ws, stride, padding, groups = layer
    rng = np.random.default_rng(len(xs))
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    spatial = len(xs) - 2
    forward = {1: convinit.conv1d, 3: convinit.conv3d}[spatial]
    backward = {1: convinit.conv1d_backward, 3: convinit.conv3d_backward}[spatial]
    dy = rng.standard_normal(forward(x, w, None, stride, padding, 1, groups).shape).astype(dtype)
    got = backward(x, w, dy, stride, padding, 1, groups, threads=1)
    ref = torch_grads(x, w, np.zeros(ws[0]), dy, stride, padding, 1, groups, "zeros")
    for g, r in zip(got, ref):
        assert_grad_close(g, r, dtype)
    for threads in (2, 3):
        again = backward(x, w, dy, stride, padding, 1, groups, threads=threads)
        assert all(np.array_equal(a, b) for a, b in zip(got, again)), threads
    if len(x) > 1:
        one, _, _ = backward(x[1:], w, dy[1:], stride, padding, 1, groups, (True, False, False))
        assert np.array_equal(one, got[0][1:]), "grad_input depends on the batch"


def test_unbatched_1d_and_3d_backward(rng):
    for spatial, forward, backward in ((1, convinit.conv1d, convinit.conv1d_backward),
                                       (3, convinit.conv3d, convinit.conv3d_backward)):
        x = rng.standard_normal((3, *(6,) * spatial))
        w = rng.standard_normal((4, 3, *(3,) * spatial))
        dy = rng.standard_normal(forward(x, w, padding=1).shape)
        got = backward(x, w, dy, padding=1)
        batched = backward(x[None], w, dy[None], padding=1)
        assert got[0].shape == x.shape and np.array_equal(got[0], batched[0][0])
        assert np.array_equal(got[1], batched[1]) and np.array_equal(got[2], batched[2])


@pytest.mark.parametrize("batch, cg, og, groups, size, kernel, stride, padding, dilation, mode", [
    (3, 16, 16, 4, (15, 13), (3, 3), (2, 2), (1, 1), (1, 1), "zeros"),
    (2, 12, 20, 3, (9, 11), (5, 3), (2, 1), (2, 1), (2, 1), "zeros"),
    (2, 9, 32, 2, (7, 7), (3, 3), (1, 1), (1, 1), (1, 1), "reflect"),
    (1, 32, 32, 4, (14, 14), (3, 3), (2, 2), (1, 1), (1, 1), "circular"),
    (4, 10, 8, 3, (6, 30), (1, 1), (1, 2), (0, 0), (1, 1), "zeros"),
    (2, 16, 16, 2, (8, 8), (3, 3), (1, 1), (1, 1), (1, 1), "replicate"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grouped_weight_gradient_matches_torch(batch, cg, og, groups, size, kernel, stride, padding, dilation, mode, dtype):
    """Grouped layers with more than 8 channels per group take the slab
    products for grad_weight: against float64 autograd, the same bits for
    every thread count."""
    rng = np.random.default_rng(cg * og + groups)
    x = rng.standard_normal((batch, groups * cg, *size)).astype(dtype)
    w = rng.standard_normal((groups * og, cg, *kernel)).astype(dtype)
    b = np.zeros(groups * og, dtype)
    args = (stride, padding, dilation, groups)
    dy = rng.standard_normal(convinit.conv2d(x, w, b, *args, padding_mode=mode).shape).astype(dtype)
    ref = torch_grads(x, w, b, dy, *args, mode)[1]
    grads = [convinit.conv2d_backward(x, w, dy, *args, (False, True, False), padding_mode=mode, threads=t)[1]
             for t in (1, 2, 3)]
    assert_grad_close(grads[0], ref, dtype)
    assert all(np.array_equal(g, grads[0]) for g in grads[1:])


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_grouped_weight_gradient_of_non_finite_input_matches_torch(value):
    """A non-finite input on the right edge: the slab's discarded columns
    must not turn it into NaN where autograd's sums never read it."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 32, 6, 6))
    x[1, 3, 2, 5] = value
    w = rng.standard_normal((32, 16, 3, 3))
    dy = rng.standard_normal((2, 32, 6, 6))
    got = convinit.conv2d_backward(x, w, dy, 1, 1, 1, 2, (False, True, False))[1]
    ref = torch_grads(x, w, np.zeros(32), dy, 1, 1, 1, 2, "zeros")[1]
    assert np.array_equal(np.isfinite(got), np.isfinite(ref))
    finite = np.isfinite(ref)
    assert np.allclose(got[finite], ref[finite], rtol=1e-9, atol=1e-9)


def test_output_mask_skips_and_returns_none(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 4, 4))
    full = convinit.conv2d_backward(x, w, dy)
    for mask in [(True, False, False), (False, True, False), (False, False, True), (False, False, False)]:
        part = convinit.conv2d_backward(x, w, dy, output_mask=mask)
        for want, got, ref in zip(mask, part, full):
            assert (got is None) != want
            if want:
                assert np.array_equal(got, ref)


def test_unbatched_backward(rng):
    x, w = rng.standard_normal((3, 6, 5)), rng.standard_normal((2, 3, 2, 2))
    dy = rng.standard_normal((2, 5, 4))
    gi, gw, gb = convinit.conv2d_backward(x, w, dy)
    bi, bw, bb = convinit.conv2d_backward(x[None], w, dy[None])
    assert gi.shape == x.shape and np.array_equal(gi, bi[0]) and np.array_equal(gw, bw) and np.array_equal(gb, bb)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3), st.integers(0, 2),
       st.sampled_from([1, 2]), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_conv_transpose2d_matches_torch(k, stride, pad, dilation, output_padding, groups, dtype, seed):
    if output_padding >= max(stride, dilation):
        output_padding = max(stride, dilation) - 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2 * groups, 5, 4)).astype(dtype)
    w = rng.standard_normal((2 * groups, 3, k, k + 1)).astype(dtype)
    b = rng.standard_normal(3 * groups).astype(dtype)
    try:
        ref = F.conv_transpose2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                 torch.from_numpy(b).double(), stride, pad, output_padding, groups, dilation).numpy()
    except RuntimeError:
        with pytest.raises(ValueError):
            convinit.conv_transpose2d(x, w, b, stride, pad, output_padding, groups, dilation)
        return
    assert_close(convinit.conv_transpose2d(x, w, b, stride, pad, output_padding, groups, dilation), ref, dtype)


@pytest.mark.parametrize("call, exc, name", [
    (lambda x, w: convinit.conv2d_backward(x, w, np.zeros((1, 2, 3, 3))), ValueError, "grad_output"),
    (lambda x, w: convinit.conv2d_backward(x, w, np.zeros((1, 2, 4, 4), np.float32)), TypeError, "grad_output"),
    (lambda x, w: convinit.conv2d_backward(x, w, np.zeros((1, 2, 4, 4)), output_mask=(True,)), ValueError,
     "output_mask"),
    (lambda x, w: convinit.conv3d_backward(x[..., None], w[..., None], np.zeros((1, 2, 4, 4, 2))), ValueError,
     "grad_output"),
    (lambda x, w: convinit.conv3d_backward(x, w[..., None], np.zeros((1, 2, 4, 4))), ValueError, "input"),
    (lambda x, w: convinit.conv1d_backward(x[..., 0], w[..., 0], np.zeros((1, 2, 4)), stride=0), ValueError,
     "stride"),
    (lambda x, w: convinit.conv_transpose2d(x, w.transpose(1, 0, 2, 3), stride=2, output_padding=2), ValueError,
     "output_padding"),
    (lambda x, w: convinit.conv_transpose2d(x, w), ValueError, "weight"),
    (lambda x, w: convinit.conv_transpose2d(x, w.transpose(1, 0, 2, 3), bias=np.zeros(3)), ValueError, "bias"),
    (lambda x, w: convinit.conv_transpose2d(x, w.transpose(1, 0, 2, 3), padding=-1), ValueError, "padding"),
])
def test_bad_arguments(call, exc, name):
    x, w = np.zeros((1, 3, 6, 6)), np.zeros((2, 3, 3, 3))
    with pytest.raises(exc, match=name):
        call(x, w)


def test_module_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    for mode in ["zeros", "reflect", "circular"]:
        fn = lambda x, w, b, mode=mode: ct.conv2d_function(x, w, b, (2, 1), 1, (1, 2), 2, mode)
        assert torch.autograd.gradcheck(fn, (x, w, b))


def test_module_is_a_drop_in_for_nn_conv2d():
    torch.manual_seed(1)
    mine = ct.Conv2d(4, 8, 3, stride=2, padding=1, groups=2, padding_mode="replicate")
    torch.manual_seed(1)
    ref = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2, padding_mode="replicate")
    # Same default initialization from the same seed, same parameter names.
    assert mine.state_dict().keys() == ref.state_dict().keys()
    for key in ref.state_dict():
        assert torch.equal(mine.state_dict()[key], ref.state_dict()[key])
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(3, 4, 9, 9)
    assert torch.allclose(mine(x), ref(x), atol=1e-5)
    with pytest.raises(TypeError, match="CPU"):
        mine(torch.zeros(1, 4, 9, 9, device="meta"))
    with pytest.raises(TypeError, match="dtype"):
        mine(torch.zeros(1, 4, 9, 9, dtype=torch.float16))


def small_cnn(conv):
    return torch.nn.Sequential(
        conv(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        conv(8, 16, 3, padding="same"), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10),
    )


def test_training_steps_match_torch_conv2d():
    torch.manual_seed(2)
    mine = small_cnn(ct.Conv2d)
    ref = small_cnn(torch.nn.Conv2d)
    ref.load_state_dict(mine.state_dict())
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (mine, ref)]
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        x = torch.randn(16, 1, 14, 14, generator=gen)
        y = torch.randint(0, 10, (16,), generator=gen)
        for model, opt in zip((mine, ref), opts):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
        err = ((p - q).abs().max() / q.abs().max()).item()
        assert err <= 1e-5, f"{name}: relative max difference {err:.3g}"
