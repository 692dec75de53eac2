"""Edge cases that must behave like torch (or SciPy): empty batches,
zero-element fills, zero fans, NaN/Inf propagation, 1x1 kernels, unbatched
inputs and the largest seed. Every expectation is computed here by torch,
SciPy or float64 NumPy, never by convinit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

import convinit
from convinit import init
from convinit.random import Generator
from convinit.torch import Conv2d

from conftest import assert_close

DTYPES = [np.float32, np.float64]
MAX_SEED = 2**64 - 1


def t64(array):
    """A float64 torch tensor of ``array``: torch's float64 path is the reference."""
    return torch.from_numpy(np.asarray(array, np.float64))


def assert_like(got, ref, dtype):
    """Same shape and dtype; same NaN and +-Inf positions; finite values close."""
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.dtype == np.dtype(dtype) and got.shape == ref.shape
    for mask in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(mask(got), mask(ref), err_msg=mask.__name__)
    finite = np.isfinite(ref)
    assert_close(np.where(finite, got, 0), np.where(finite, ref, 0), dtype)


# ---- empty batch (N = 0) ----------------------------------------------------------

EMPTY_CONVS = [
    (1, dict()), (1, dict(padding=1, padding_mode="reflect")), (2, dict(stride=2, padding=1)),
    (2, dict(padding="same", padding_mode="circular")), (2, dict(groups=3, dilation=2)), (3, dict(padding=1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, kwargs", EMPTY_CONVS)
def test_empty_batch_conv(d, kwargs, dtype):
    x = np.zeros((0, 6, *(7,) * d), dtype)
    w = np.ones((3, 6 // kwargs.get("groups", 1), *(3,) * d), dtype)
    ref = getattr(torch.nn, f"Conv{d}d")(6, 3, 3, bias=False, **kwargs).double()
    with torch.no_grad():
        ref.weight.copy_(t64(w))
        expected = ref(t64(x))
    got = getattr(convinit, f"conv{d}d")(x, w, **kwargs)
    assert_like(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_unfold_and_fold(dtype):
    x = np.zeros((0, 2, 6, 5), dtype)
    assert_like(convinit.unfold(x, (2, 3), padding=1, stride=2), F.unfold(t64(x), (2, 3), padding=1, stride=2),
                dtype)
    cols = np.zeros((0, 12, 6), dtype)
    assert_like(convinit.fold(cols, (4, 5), (2, 3), stride=(2, 1)), F.fold(t64(cols), (4, 5), (2, 3), stride=(2, 1)),
                dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_backward(dtype):
    x = t64(np.zeros((0, 4, 6, 6))).requires_grad_()
    w = t64(np.random.default_rng(0).standard_normal((6, 2, 3, 3))).requires_grad_()
    b = t64(np.zeros(6)).requires_grad_()
    y = F.conv2d(x, w, b, padding=1, groups=2)
    y.backward(torch.zeros_like(y))
    got = convinit.conv2d_backward(x.detach().numpy().astype(dtype), w.detach().numpy().astype(dtype),
                                   np.zeros(tuple(y.shape), dtype), padding=1, groups=2)
    for ours, theirs in zip(got, (x.grad, w.grad, b.grad)):
        assert_like(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_conv_transpose2d(dtype):
    x = np.zeros((0, 4, 5, 5), dtype)
    w = np.ones((4, 3, 3, 3), dtype)
    b = np.arange(6, dtype=dtype)
    expected = F.conv_transpose2d(t64(x), t64(w), t64(b), stride=2, padding=1, output_padding=1, groups=2)
    assert_like(convinit.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), expected, dtype)


def test_empty_batch_through_the_torch_module():
    torch.manual_seed(0)
    mine, ref = Conv2d(3, 5, 3, padding=1), torch.nn.Conv2d(3, 5, 3, padding=1)
    ref.load_state_dict(mine.state_dict())
    x = torch.zeros(0, 3, 8, 8, requires_grad=True)
    out, expected = mine(x), ref(x)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    out.sum().backward()
    assert x.grad.shape == x.shape and torch.count_nonzero(mine.weight.grad) == 0


# ---- zero-element fills: what torch.nn.init does --------------------------------------

FILLS = ["uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "eye_", "dirac_", "xavier_uniform_",
         "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_"]
ARGS = {"constant_": (0.5,), "sparse_": (0.1,)}
SEEDLESS = {"constant_", "zeros_", "ones_", "eye_", "dirac_"}
EMPTY_SHAPES = [(0,), (0, 3), (3, 0), (0, 0), (7, 0, 3), (0, 3, 3), (2, 0, 3, 3), (0, 2, 3, 3, 3)]


def outcome(call):
    """(exception class or None, number of warnings) of ``call()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the class is what we compare
            return type(exc), len(caught)
    return None, len(caught)


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_zero_element_fills_match_torch(name, shape):
    args = ARGS.get(name, ())
    rng = {} if name in SEEDLESS else {"seed": 0}
    theirs = outcome(lambda: getattr(torch.nn.init, name)(torch.empty(shape), *args))
    target = np.full(shape, 7.0, np.float32)
    ours = outcome(lambda: getattr(init, name)(target, *args, **rng))
    # Same no-op (and same warning), or an exception torch also raises (ours
    # may be a ValueError subclass of torch's class).
    assert ours[1] == theirs[1]
    if theirs[0] is None:
        assert ours[0] is None and target.shape == shape
    else:
        assert ours[0] is not None and issubclass(ours[0], theirs[0])


@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_zero_element_allocating_fills_are_empty(name, shape):
    fn = getattr(init, name.rstrip("_"))
    rng = {} if name in SEEDLESS else {"seed": 0}
    theirs = outcome(lambda: getattr(torch.nn.init, name)(torch.empty(shape), *ARGS.get(name, ())))
    if theirs[0] is not None:  # refused by torch: the allocating form refuses it too
        ours = outcome(lambda: fn(shape, *ARGS.get(name, ()), dtype="float64", **rng))
        assert ours[0] is not None and issubclass(ours[0], theirs[0])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(shape, *ARGS.get(name, ()), dtype="float64", **rng)
    assert out.shape == shape and out.dtype == np.float64


@pytest.mark.parametrize("shape", [(7, 0, 3), (0, 5), (5, 0), (3, 0, 2, 2)], ids=str)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_zero_fan_kaiming_warns_and_leaves_the_tensor_like_torch(shape, mode):
    with pytest.warns(UserWarning) as theirs:
        torch.nn.init.kaiming_uniform_(torch.empty(shape), mode=mode)
    with pytest.warns(UserWarning) as ours:
        out = init.kaiming_normal_(torch.empty(shape), mode=mode, seed=0)
    assert str(ours[0].message) == str(theirs[0].message)
    assert out.shape == shape
    assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (3, 0, 2)], ids=str)
def test_zero_fan_xavier_is_a_no_op_when_the_other_fan_is_not(shape):
    target = torch.empty(shape)
    torch.nn.init.xavier_uniform_(torch.empty(shape))  # torch accepts it too
    assert init.xavier_uniform_(target, seed=0) is target


# ---- NaN and Inf propagate where torch's float64 path puts them ---------------------------
# torch's float32 CPU convolution (oneDNN) skips the implicit zero padding, so
# a NaN or Inf weight does not reach border outputs there; IEEE arithmetic
# (0 * NaN = NaN), torch's float64 path and convinit in both precisions agree.

SPECIALS = [np.nan, np.inf, -np.inf]


def with_specials(shape, seed, count=3):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    flat = a.reshape(-1)
    for i, pos in enumerate(rng.choice(flat.size, count, replace=False)):
        flat[pos] = SPECIALS[i % 3]
    return a


CONV_GEOMETRIES = [
    (1, dict(padding=1)), (2, dict(padding=1)), (2, dict(stride=2, padding=2, dilation=2)),
    (2, dict(padding=1, padding_mode="reflect")), (2, dict(padding=2, padding_mode="circular")),
    (2, dict(padding=1, padding_mode="replicate", groups=2)), (3, dict(padding=1)),
]


def torch_conv(d, x, w, b, kwargs):
    module = getattr(torch.nn, f"Conv{d}d")(w.shape[1] * kwargs.get("groups", 1), w.shape[0], w.shape[2:],
                                          **kwargs).double()
    with torch.no_grad():
        module.weight.copy_(t64(w))
        module.bias.copy_(t64(b))
        return module(t64(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["input", "weight", "bias"])
@pytest.mark.parametrize("d, kwargs", CONV_GEOMETRIES)
def test_nan_and_inf_propagate_like_torch(d, kwargs, where, dtype):
    shapes = {"input": (2, 4, *(6,) * d), "weight": (4, 4 // kwargs.get("groups", 1), *(3,) * d), "bias": (4,)}
    arrays = {k: np.random.default_rng(1).standard_normal(s) for k, s in shapes.items()}
    arrays[where] = with_specials(shapes[where], seed=len(where) + d)
    x, w, b = (arrays[k].astype(dtype) for k in ("input", "weight", "bias"))
    got = getattr(convinit, f"conv{d}d")(x, w, b, **kwargs)
    assert_like(got, torch_conv(d, x, w, b, kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_in_gradients_like_torch(dtype):
    x = with_specials((2, 4, 6, 6), seed=3).astype(dtype)
    w = with_specials((6, 2, 3, 3), seed=4, count=1).astype(dtype)
    dy = with_specials((2, 6, 3, 3), seed=5, count=2).astype(dtype)
    xt, wt, bt = t64(x).requires_grad_(), t64(w).requires_grad_(), t64(np.zeros(6)).requires_grad_()
    F.conv2d(xt, wt, bt, stride=2, padding=1, groups=2).backward(t64(dy))
    got = convinit.conv2d_backward(x, w, dy, stride=2, padding=1, groups=2)
    for ours, theirs in zip(got, (xt.grad, wt.grad, bt.grad)):
        assert_like(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_in_transpose_unfold_fold_like_torch(dtype):
    x = with_specials((1, 4, 4, 5), seed=6).astype(dtype)
    w = np.random.default_rng(7).standard_normal((4, 3, 3, 3)).astype(dtype)
    assert_like(convinit.conv_transpose2d(x, w, stride=2, padding=1, groups=2),
                F.conv_transpose2d(t64(x), t64(w), stride=2, padding=1, groups=2), dtype)
    assert_like(convinit.unfold(x, 2, padding=1), F.unfold(t64(x), 2, padding=1), dtype)
    cols = with_specials((1, 8, 12), seed=8).astype(dtype)
    assert_like(convinit.fold(cols, (4, 5), 2), F.fold(t64(cols), (4, 5), 2), dtype)


@pytest.mark.parametrize("fn", [convinit.correlate2d, convinit.convolve2d])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_nan_and_inf_in_correlate2d_like_scipy(fn, mode):
    a, b = with_specials((7, 6), seed=9), np.random.default_rng(10).standard_normal((3, 2))
    expected = getattr(scipy.signal, fn.__name__)(a, b, mode=mode)
    assert_like(fn(a, b, mode=mode), expected, np.float64)


# ---- 1x1 kernels ---------------------------------------------------------------------------

POINTWISE = [dict(), dict(stride=2), dict(padding=1), dict(groups=2), dict(padding=1, padding_mode="reflect"),
             dict(stride=(1, 3), dilation=4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", POINTWISE, ids=str)
def test_one_by_one_kernels_like_torch(kwargs, dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 5, 7)).astype(dtype)
    w = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 1, 1)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    assert_like(convinit.conv2d(x, w, b, **kwargs), torch_conv(2, x, w, b, kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_by_one_in_1d_3d_backward_and_transpose(dtype):
    rng = np.random.default_rng(12)
    x1, w1 = rng.standard_normal((2, 3, 9)).astype(dtype), rng.standard_normal((5, 3, 1)).astype(dtype)
    assert_like(convinit.conv1d(x1, w1, stride=2), F.conv1d(t64(x1), t64(w1), stride=2), dtype)
    x3, w3 = rng.standard_normal((1, 3, 4, 3, 5)).astype(dtype), rng.standard_normal((2, 3, 1, 1, 1)).astype(dtype)
    assert_like(convinit.conv3d(x3, w3), F.conv3d(t64(x3), t64(w3)), dtype)
    x, w = rng.standard_normal((2, 3, 4, 4)).astype(dtype), rng.standard_normal((5, 3, 1, 1)).astype(dtype)
    xt, wt = t64(x).requires_grad_(), t64(w).requires_grad_()
    dy = rng.standard_normal((2, 5, 4, 4)).astype(dtype)
    F.conv2d(xt, wt).backward(t64(dy))
    gx, gw, _ = convinit.conv2d_backward(x, w, dy)
    assert_like(gx, xt.grad, dtype)
    assert_like(gw, wt.grad, dtype)
    wt2 = rng.standard_normal((3, 2, 1, 1)).astype(dtype)
    assert_like(convinit.conv_transpose2d(x, wt2, stride=2), F.conv_transpose2d(t64(x), t64(wt2), stride=2), dtype)
    assert_like(convinit.unfold(x, 1), F.unfold(t64(x), 1), dtype)


# ---- unbatched inputs ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, kwargs", [(1, dict(padding=1)), (1, dict(stride=2, padding_mode="circular", padding=2)),
                                       (2, dict(padding="same")), (2, dict(stride=2, groups=2)),
                                       (3, dict(padding=1, dilation=2))])
def test_unbatched_conv_like_torch(d, kwargs, dtype):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, *(7,) * d)).astype(dtype)
    w = rng.standard_normal((6, 4 // kwargs.get("groups", 1), *(3,) * d)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    expected = torch_conv(d, x, w, b, kwargs)
    assert expected.dim() == d + 1
    assert_like(getattr(convinit, f"conv{d}d")(x, w, b, **kwargs), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_window_and_gradient_functions_like_torch(dtype):
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((4, 6, 5)).astype(dtype), rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    assert_like(convinit.unfold(x, 2, stride=2), F.unfold(t64(x), 2, stride=2), dtype)
    cols = rng.standard_normal((8, 20)).astype(dtype)
    assert_like(convinit.fold(cols, (5, 6), 2), F.fold(t64(cols), (5, 6), 2), dtype)
    wt = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    assert_like(convinit.conv_transpose2d(x, wt, stride=2), F.conv_transpose2d(t64(x), t64(wt), stride=2), dtype)
    xt, wtt = t64(x).requires_grad_(), t64(w).requires_grad_()
    y = F.conv2d(xt, wtt, padding=1, groups=2)
    dy = rng.standard_normal(tuple(y.shape)).astype(dtype)
    y.backward(t64(dy))
    gx, gw, _ = convinit.conv2d_backward(x, w, dy, padding=1, groups=2)
    assert_like(gx, xt.grad, dtype)
    assert_like(gw, wtt.grad, dtype)


def test_unbatched_through_the_torch_module():
    torch.manual_seed(2)
    mine, ref = Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1)
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(3, 6, 6)
    assert mine(x).shape == ref(x).shape == (4, 6, 6)
    assert torch.allclose(mine(x), ref(x), atol=1e-5)


# ---- the largest seed ------------------------------------------------------------------------


def test_generator_accepts_the_largest_seed_and_replays():
    for seed in (MAX_SEED, np.uint64(MAX_SEED)):
        g = Generator(seed)
        assert g.seed == MAX_SEED and g.stream == 0
        first = g.uniform(size=1000)
        assert np.all((first >= 0) & (first < 1))
        np.testing.assert_array_equal(Generator(MAX_SEED).uniform(size=1000), first)
        assert not np.array_equal(Generator(MAX_SEED - 1).uniform(size=1000), first)
    state = Generator(MAX_SEED, 5).state
    np.testing.assert_array_equal(Generator.from_state(state).random_raw(64), Generator(MAX_SEED, 5).random_raw(64))


@pytest.mark.parametrize("name", ["uniform", "normal", "trunc_normal", "xavier_uniform", "kaiming_normal",
                                  "orthogonal"])
def test_init_accepts_the_largest_seed_and_replays(name):
    fn, fill = getattr(init, name), getattr(init, name + "_")
    first = fn((16, 8), seed=MAX_SEED)
    np.testing.assert_array_equal(fn((16, 8), seed=MAX_SEED), first)
    np.testing.assert_array_equal(fn((16, 8), generator=Generator(MAX_SEED)), first)
    np.testing.assert_array_equal(fill(np.empty((16, 8), np.float32), seed=MAX_SEED), first)
    assert np.all(np.isfinite(first)) and np.std(first) > 0


def test_init_module_accepts_the_largest_seed_and_replays():
    def net():
        return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Linear(3, 2))

    a = init.init_module(net(), "kaiming_uniform", seed=MAX_SEED)
    b = init.init_module(net(), "kaiming_uniform", seed=MAX_SEED)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


# ---- non-contiguous, reversed and Fortran-ordered inputs -------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_like_torch(dtype):
    rng = np.random.default_rng(15)
    base = rng.standard_normal((2, 6, 9, 8)).astype(dtype)
    x = base[:, ::2, ::-1, 1::2]  # every other channel, flipped rows, odd columns
    w = np.asfortranarray(rng.standard_normal((4, 3, 3, 2)).astype(dtype))
    b = rng.standard_normal(8).astype(dtype)[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    assert_like(convinit.conv2d(x, w, b, padding=1), F.conv2d(t64(x.copy()), t64(w), t64(b.copy()), padding=1), dtype)
    assert_like(convinit.unfold(x, 2), F.unfold(t64(x.copy()), 2), dtype)
    target = np.zeros((5, 6), dtype).T  # writable, Fortran-ordered
    assert init.ones_(target) is target and np.array_equal(target, np.ones((6, 5)))
