"""convinit.conv1d/2d/3d against torch.nn.functional in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convinit
from convinit.tools.layers import README_SUITE
from conftest import assert_close

DTYPES = [np.float32, np.float64]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torch_reference(dims, x, w, b, stride, padding, dilation, groups, padding_mode):
    """torch in float64; non-zero padding modes pad first, as nn.ConvNd does."""
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    tx, tw = torch.from_numpy(np.asarray(x, np.float64)), torch.from_numpy(np.asarray(w, np.float64))
    tb = None if b is None else torch.from_numpy(np.asarray(b, np.float64))
    if padding_mode != "zeros":
        module = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](
            w.shape[1] * groups, w.shape[0], w.shape[2:], stride=stride, padding=padding,
            dilation=dilation, groups=groups, bias=b is not None, padding_mode=padding_mode,
        ).double()
        with torch.no_grad():
            module.weight.copy_(tw)
            if tb is not None:
                module.bias.copy_(tb)
            return module(tx).numpy()
    return conv(tx, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=groups).numpy()


@st.composite
def conv_problems(draw, dims):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 3))
    batch = draw(st.integers(0, 2)) if draw(st.booleans()) else 1
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    kind = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    if kind == "same":
        stride = (1,) * dims
    else:
        stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    if kind == "int":
        padding = draw(st.integers(0, 2))
        pads = (padding,) * dims
    elif kind == "tuple":
        pads = tuple(draw(st.integers(0, 2)) for _ in range(dims))
        padding = pads
    else:
        padding = kind
        pads = tuple(d * (k - 1) - d * (k - 1) // 2 for k, d in zip(kernel, dilation)) if kind == "same" else (0,) * dims
    # Spatial sizes large enough for the kernel and (for reflect) the padding.
    spatial = tuple(
        draw(st.integers(max(d * (k - 1) + 1 - 2 * p, p + 1, 1), max(d * (k - 1) + 1, p + 1) + 6))
        for k, d, p in zip(kernel, dilation, pads)
    )
    unbatched = draw(st.booleans()) and batch == 1
    dtype = draw(st.sampled_from(DTYPES))
    has_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(groups=groups, cg=cg, og=og, batch=batch, kernel=kernel, stride=stride, padding=padding,
                dilation=dilation, padding_mode=padding_mode, spatial=spatial, unbatched=unbatched,
                dtype=dtype, has_bias=has_bias, seed=seed)


def run_problem(dims, p):
    rng = np.random.default_rng(p["seed"])
    c, o = p["groups"] * p["cg"], p["groups"] * p["og"]
    x = rng.standard_normal((p["batch"], c, *p["spatial"])).astype(p["dtype"])
    if p["unbatched"]:
        x = x[0]
    w = rng.standard_normal((o, p["cg"], *p["kernel"])).astype(p["dtype"])
    b = rng.standard_normal(o).astype(p["dtype"]) if p["has_bias"] else None
    args = (p["stride"], p["padding"], p["dilation"], p["groups"], p["padding_mode"])
    got = getattr(convinit, f"conv{dims}d")(x, w, b, *args)
    ref = torch_reference(dims, x, w, b, *args)
    assert_close(got, ref, p["dtype"])


@SETTINGS
@given(conv_problems(1))
def test_conv1d_matches_torch(problem):
    run_problem(1, problem)


@SETTINGS
@given(conv_problems(2))
def test_conv2d_matches_torch(problem):
    run_problem(2, problem)


@settings(max_examples=60, deadline=None)
@given(conv_problems(3))
def test_conv3d_matches_torch(problem):
    run_problem(3, problem)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    # The benchmark suite with batches of at most 2, and the widest reductions.
    [(min(layer.batch, 2), layer.channels, *layer.size, layer.out_channels, layer.kernel[0], layer.stride[0],
      layer.padding[0]) for layer in README_SUITE.values()]
    + [
        (1, 512, 7, 7, 8, 3, 1, 1),  # K = 4608, the largest reduction the tolerance covers
        (3, 16, 9, 9, 16, 1, 1, 0),  # pointwise: no im2col
    ],
)
def test_realistic_layers_within_tolerance(shape, dtype, rng):
    n, c, h, w, o, k, s, p = shape
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    got = convinit.conv2d(x, wt, b, stride=s, padding=p)
    assert_close(got, torch_reference(2, x, wt, b, s, p, 1, 1, "zeros"), dtype)


def test_huge_reduction_is_chunked_and_exact_in_float64(rng):
    # K = 3 * 100 * 100 = 30000 > one workspace of rows: the reduction is split in fixed chunks.
    x = rng.standard_normal((1, 3, 100, 100))
    w = rng.standard_normal((2, 3, 100, 100))
    assert_close(convinit.conv2d(x, w), torch_reference(2, x, w, None, 1, 0, 1, 1, "zeros"), np.float64)


def test_source_text_example():
    """Text 000: the 3x3 kernel on its 6x5 input equals correlate2d(mode='valid')."""
    import scipy.signal

    from convinit.tools.demo import TEXT_INPUT as x, TEXT_KERNEL

    w = TEXT_KERNEL.astype(np.float32)
    ref = scipy.signal.correlate2d(x, w.astype(np.float64), mode="valid")
    assert ref.shape == (4, 3)
    assert_close(convinit.correlate2d(x, w.astype(np.float64), mode="valid"), ref, np.float64)
    got = convinit.conv2d(x[None, None].astype(np.float32), w[None, None])[0, 0]
    assert_close(got, ref, np.float32)
    # and the text's own unfold-then-matmul: im2col rows times the flattened kernel
    cols = convinit.unfold(x[None, None], 3)[0]  # (9, 12)
    assert_close((cols.T @ w.ravel().astype(np.float64)).reshape(4, 3), ref, np.float64)


def _layouts(a: np.ndarray):
    """Views of the same logical values with awkward memory layouts."""
    yield "transposed copy", np.asfortranarray(a)
    flipped = np.ascontiguousarray(a[..., ::-1])
    yield "negative strides", flipped[..., ::-1]
    padded = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
    padded[..., ::2] = a
    yield "every other column", padded[..., ::2]
    yield "big-endian", a.astype(a.dtype.newbyteorder(">"))
    yield "torch tensor", torch.from_numpy(a.copy())
    yield "torch non-contiguous", torch.from_numpy(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
    yield "nested list", a.tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_layout_gives_the_same_result(dtype, rng):
    x = rng.standard_normal((2, 4, 7, 6)).astype(dtype)
    w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
    expected = convinit.conv2d(x, w, padding=1, groups=2)
    for name, view in _layouts(x):
        got = convinit.conv2d(view, w if name != "nested list" else w.astype(np.float64), padding=1, groups=2)
        if name == "nested list":  # lists are read as float64
            assert_close(got, torch_reference(2, x, w, None, 1, 1, 1, 2, "zeros"), np.float64)
        else:
            assert np.array_equal(got, expected), name
    for name, view in _layouts(w):
        if name != "nested list":
            assert np.array_equal(convinit.conv2d(x, view, padding=1, groups=2), expected), name


def test_zero_strides_broadcast_input(rng):
    row = rng.standard_normal(9)
    x = np.broadcast_to(row, (1, 2, 5, 9))  # strides (0, 0, 0, 8)
    w = rng.standard_normal((1, 2, 2, 3))
    assert_close(convinit.conv2d(x, w), torch_reference(2, np.array(x), w, None, 1, 0, 1, 1, "zeros"), np.float64)


def test_torch_tensor_with_grad_is_accepted(rng):
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    got = convinit.conv2d(x, w)
    assert isinstance(got, np.ndarray)
    assert_close(got, F.conv2d(x, w).detach().numpy(), np.float64)


def test_unbatched_matches_batched(rng):
    x = rng.standard_normal((3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    assert np.array_equal(convinit.conv2d(x, w, padding="same"), convinit.conv2d(x[None], w, padding="same")[0])
    assert convinit.conv1d(x[:1, 0], w[:, :1, 0]).shape == (4, 6)


def test_same_padding_with_even_kernel_pads_less_before(rng):
    # total = 3 for a 4-tap kernel: 1 before, 2 after, as PyTorch.
    x = rng.standard_normal((1, 1, 9))
    w = np.zeros((1, 1, 4))
    w[0, 0, 0] = 1.0  # picks input[i - 1]
    out = convinit.conv1d(x, w, padding="same")[0, 0]
    assert np.array_equal(out, np.concatenate([[0.0], x[0, 0, :-1]]))
    assert_close(convinit.conv1d(x, w, padding="same", dilation=2),
                 F.conv1d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=2).numpy(), np.float64)


def test_empty_batch_and_channels(rng):
    w = rng.standard_normal((4, 2, 3, 3))
    out = convinit.conv2d(np.zeros((0, 2, 5, 5)), w)
    assert out.shape == (0, 4, 3, 3)
    # Zero input channels: an empty sum, so the output is the bias. (torch
    # returns a (1, 0, 3, 3) tensor here, dropping the output channels.)
    b = rng.standard_normal(4)
    got = convinit.conv2d(np.zeros((1, 0, 5, 5)), np.zeros((4, 0, 3, 3)), b)
    assert np.array_equal(got, np.broadcast_to(b[None, :, None, None], (1, 4, 3, 3)))


def test_nan_and_inf_propagate_like_torch():
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 3, 3] = np.inf
    w = np.ones((1, 1, 2, 2))
    got = convinit.conv2d(x, w)
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(np.isinf(got), np.isinf(ref))


def test_read_only_and_misaligned_arrays(rng):
    # The core takes a tracked read-only borrow of its inputs: read-only
    # arrays work; a misaligned one (which no slice may point into) is a
    # TypeError, not undefined behaviour.
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    expected = convinit.conv2d(x, w)
    x.flags.writeable = w.flags.writeable = False
    assert np.array_equal(convinit.conv2d(x, w), expected)
    raw = np.zeros(x.nbytes + 1, np.uint8)
    misaligned = np.frombuffer(raw.data, np.float32, x.size, offset=1).reshape(x.shape)
    assert not misaligned.flags.aligned
    with pytest.raises(TypeError, match="aligned"):
        convinit.conv2d(misaligned, w)

def test_output_dtype_follows_input(rng):
    for dtype in DTYPES:
        x = rng.standard_normal((1, 1, 4, 4)).astype(dtype)
        assert convinit.conv2d(x, x[:, :, :2, :2]).dtype == dtype


@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [(28, 3, 1, 1, 1), (112, 7, 2, 3, 1), (28, 1, 2, 0, 1), (10, 3, 3, 2, 2), (5, 5, 1, 0, 1), (227, 11, 4, 2, 1)],
)
def test_conv_output_size_matches_torch(size, kernel, stride, padding, dilation):
    out = F.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, kernel), stride=stride, padding=padding,
                   dilation=dilation)
    assert convinit.conv_output_size(size, kernel, stride, padding, dilation) == out.shape[-1]
    assert convinit.conv_output_size((size, size), kernel, stride, padding, dilation) == (out.shape[-1],) * 2
