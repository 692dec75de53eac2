"""Fuzzing the public argument space against torch and SciPy.

Every generated call must either agree with the reference (torch for the
convolutions, unfold and fold; scipy.signal for correlate2d/convolve2d; the
distribution's definition for the fills) or fail with a clean Python error
(ValueError, TypeError, MemoryError, OverflowError) on a call the reference
rejects too. A Rust panic, a crash or a hang fails the run.

CI runs a fixed, derandomized set of examples per property. For a longer
hunt with fresh examples each run:

    CONVINIT_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py --hypothesis-show-statistics
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis import given

import convinit
from convinit import init

from conftest import TOLERANCE, relative_max_error

_EXAMPLES = os.environ.get("CONVINIT_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXAMPLES) if _EXAMPLES else 300,
    derandomize=_EXAMPLES is None,   # CI: the same examples every run
    deadline=None if _EXAMPLES else 10_000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

CLEAN_ERRORS = (ValueError, TypeError, MemoryError, OverflowError)


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


def run(call: Callable[[], Any]) -> Outcome:
    """The call's result or its exception. A Rust panic surfaces as
    pyo3's PanicException, which derives from BaseException only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Outcome(value=call())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - classified below
        return Outcome(error=exc)


def assert_clean(error: BaseException) -> None:
    name = type(error).__name__
    assert name != "PanicException", f"Rust panic: {error!r}"
    assert "internal error" not in str(error), f"caught kernel panic: {error!r}"
    assert isinstance(error, CLEAN_ERRORS), f"unclean {name}: {error}"


def compare(ours: Outcome, ref: Outcome, expected: Callable[[Any], np.ndarray], dtype: Any,
            divergence: str | None = None) -> None:
    """Both succeed with close results, or both fail (ours cleanly).

    ``divergence`` names a documented case where convinit and the reference
    legitimately disagree on acceptance; such examples only need to be clean.
    """
    compare_acceptance(ours, ref, divergence)
    if ours.error is None and divergence is None:
        got, want = np.asarray(ours.value), np.asarray(expected(ref.value))
        assert got.dtype == np.dtype(dtype), f"dtype {got.dtype} != {np.dtype(dtype)}"
        assert got.shape == want.shape, f"shape {got.shape} != reference {want.shape}"
        err = relative_max_error(got, want)
        assert err <= 10 * TOLERANCE[np.dtype(dtype)], f"relative error {err:.3g}"


def compare_acceptance(ours: Outcome, ref: Outcome, divergence: str | None) -> None:
    """Ours fails cleanly if at all; unless a known divergence, both fail or both succeed."""
    if ours.error is not None:
        assert_clean(ours.error)
    if divergence is not None:
        return
    if ours.error is not None and ref.error is None:
        pytest.fail(f"convinit rejected a call the reference accepts: {ours.error!r}")
    if ours.error is None and ref.error is not None:
        pytest.fail(f"convinit accepted a call the reference rejects: {ref.error!r}")


def to_numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().numpy()


# ---- strategies ------------------------------------------------------------------

DTYPES = st.sampled_from([np.float32, np.float64])


def per_axis(dims: int, values: st.SearchStrategy) -> st.SearchStrategy:
    """An int or a tuple of ``dims`` ints (occasionally of the wrong length)."""
    return st.one_of(values, st.lists(values, min_size=dims, max_size=dims).map(tuple),
                     st.lists(values, min_size=1, max_size=4).map(tuple))


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(good, good, good, bad)


def normal_array(seed: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


ANY_DIMS = st.integers(1, 3)


@st.composite
def conv_calls(draw: Any, dims_strategy: st.SearchStrategy = ANY_DIMS) -> dict:
    dims = draw(dims_strategy)
    limit = {1: 9, 2: 6, 3: 4}[dims]
    groups = draw(mostly(st.integers(1, 3), st.integers(-1, 4)))
    g = max(groups, 1)
    cin = draw(st.integers(0, 2)) * g + draw(mostly(st.just(0), st.integers(-1, 1)))
    cout = draw(st.integers(0, 2)) * g + draw(mostly(st.just(0), st.integers(0, 1)))
    spatial = tuple(draw(st.lists(st.integers(0, limit), min_size=dims, max_size=dims)))
    kernel = tuple(draw(st.lists(mostly(st.integers(1, 3), st.integers(0, 5)), min_size=dims, max_size=dims)))
    batched = draw(st.booleans())
    x_shape = ((draw(st.integers(0, 2)),) if batched else ()) + (max(cin, 0),) + spatial
    w_in = draw(mostly(st.just(max(cin, 0) // g), st.integers(0, 3)))
    return dict(
        dims=dims,
        x_shape=x_shape,
        w_shape=(cout, w_in) + kernel,
        bias=draw(st.booleans()),
        stride=draw(per_axis(dims, mostly(st.integers(1, 3), st.integers(-1, 0)))),
        padding=draw(st.one_of(per_axis(dims, mostly(st.integers(0, 3), st.just(-1))),
                               st.sampled_from(["same", "valid"]))),
        dilation=draw(per_axis(dims, mostly(st.integers(1, 3), st.integers(-1, 0)))),
        groups=groups,
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
        dtype=draw(DTYPES),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def torch_conv(c: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> Any:
    """The call through ``torch.nn.Conv{d}d``, in float64: the module is
    where torch implements (and checks) padding modes."""
    module_type = getattr(torch.nn, f"Conv{c['dims']}d")
    module = module_type(c["w_shape"][1] * c["groups"], c["w_shape"][0], c["w_shape"][2:], c["stride"],
                         c["padding"], c["dilation"], c["groups"], b is not None, c["padding_mode"],
                         dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w.astype(np.float64)))
        if b is not None:
            module.bias.copy_(torch.from_numpy(b.astype(np.float64)))
        return module(torch.from_numpy(x.astype(np.float64)))


def conv_divergence(c: dict, ours: Outcome, ref: Outcome, b: np.ndarray | None) -> str | None:
    """Known divergences of convinit's convolutions from torch's.

    * No output channels: torch raises, convinit returns an empty array.
    * No input channels: every output is a sum over nothing, so convinit
      returns ``O`` channels equal to the bias (or zero); torch's shortcut
      for empty inputs returns zero channels instead.
    * Zero-size channel or spatial axes (with padding, or a non-zero
      padding mode): torch raises, convinit returns
      the bias (or zeros), as only padding is read.
    * Negative padding: convinit raises; torch crops in its non-zero modes.
    * A 1-element padding tuple in a non-zero padding mode: convinit pads
      every axis (as torch's zeros mode does); torch's module pads only the
      last axis.
    * Invalid arguments (zero kernel size, zero dilation, ...) on an input
      with no elements: convinit raises; torch's empty-input shortcut
      returns without checking them.
    """
    torch_empty = ("zero channel inputs", "non-zero dimensions")
    if (0 in c["x_shape"][-c["dims"] - 1:] and ref.error is not None
            and any(m in str(ref.error) for m in torch_empty)):
        # Zero-size spatial axes, padded: every output reads only padding.
        assert ours.error is not None or not np.any(ours.value - (0 if b is None else b.reshape(
            (-1,) + (1,) * c["dims"])))
        return "zero-size spatial input"
    pads = c["padding"] if isinstance(c["padding"], tuple) else (c["padding"],)
    if any(isinstance(p, int) and p < 0 for p in pads):
        # torch crops for negative padding in its non-zero modes (F.pad).
        assert isinstance(ours.error, ValueError), ours
        return "negative padding"
    if c["padding_mode"] != "zeros" and isinstance(c["padding"], tuple) and len(c["padding"]) == 1 < c["dims"]:
        return "1-element padding tuple in a non-zero padding mode"
    if math.prod(c["x_shape"]) == 0 and ref.error is None and ours.error is not None:
        assert isinstance(ours.error, ValueError), ours
        return "torch's empty-input shortcut skips argument checks"
    if c["w_shape"][0] == 0 and ref.error is not None and "expected weight to be at least" in str(ref.error):
        assert ours.error is not None or ours.value.size == 0
        return "no output channels"
    if c["w_shape"][1] == 0 and ours.error is None and ref.error is None:
        out = ours.value if len(c["x_shape"]) == c["dims"] + 2 else ours.value[None]
        expected = 0 if b is None else b.reshape((1, -1) + (1,) * c["dims"])
        assert out.shape[1] == c["w_shape"][0] and np.all(out == expected)
        return "no input channels"
    return None


@FUZZ
@given(conv_calls())
def test_conv_agrees_with_torch_or_both_reject(c):
    x = normal_array(c["seed"], c["x_shape"], c["dtype"])
    w = normal_array(c["seed"] + 1, c["w_shape"], c["dtype"]) if min(c["w_shape"]) >= 0 else None
    b = normal_array(c["seed"] + 2, (c["w_shape"][0],), c["dtype"]) if c["bias"] else None
    fn = getattr(convinit, f"conv{c['dims']}d")
    ours = run(lambda: fn(x, w, b, c["stride"], c["padding"], c["dilation"], c["groups"], c["padding_mode"],
                          threads=1))
    ref = run(lambda: torch_conv(c, x, w, b))
    compare(ours, ref, to_numpy, c["dtype"], conv_divergence(c, ours, ref, b))


# ---- conv2d_backward and conv_transpose2d ------------------------------------------

MASKS = st.tuples(st.booleans(), st.booleans(), st.booleans())


def torch_conv2d_grads(c: dict, x: np.ndarray, w: np.ndarray, dy_shape_change: int, seed: int) -> tuple:
    """``(grad_output, (grad_input, grad_weight, grad_bias))`` by torch autograd
    through ``nn.Conv2d`` in float64; ``grad_output`` is drawn in the forward's
    output shape, its last axis lengthened by ``dy_shape_change``."""
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    module = torch.nn.Conv2d(c["w_shape"][1] * c["groups"], c["w_shape"][0], c["w_shape"][2:], c["stride"],
                             c["padding"], c["dilation"], c["groups"], True, c["padding_mode"], dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w.astype(np.float64)))
    out = module(tx)
    shape = out.shape[:-1] + (max(out.shape[-1] + dy_shape_change, 0),)
    dy = normal_array(seed + 3, tuple(shape), c["dtype"])
    grads = torch.autograd.grad(out, (tx, module.weight, module.bias), torch.from_numpy(dy.astype(np.float64)),
                                allow_unused=True)
    return dy, tuple(None if g is None else to_numpy(g) for g in grads)


def compare_gradients(ours: Outcome, ref: Outcome, mask: tuple, dtype: Any, divergence: str | None) -> None:
    """Both succeed (each unmasked gradient close to autograd's, masked ones
    None) or both fail, ours cleanly."""
    compare_acceptance(ours, ref, divergence)
    if divergence is not None or ours.error is not None:
        return
    for got, want, wanted in zip(ours.value, ref.value, mask):
        if not wanted:
            assert got is None, "a masked gradient was computed"
            continue
        got = np.asarray(got)
        assert got.dtype == np.dtype(dtype), f"gradient dtype {got.dtype} != {np.dtype(dtype)}"
        err = relative_max_error(got, np.zeros(got.shape) if want is None else want)
        assert err <= 10 * TOLERANCE[np.dtype(dtype)], f"gradient relative error {err:.3g}"


@FUZZ
@given(conv_calls(st.just(2)), MASKS, mostly(st.just(0), st.integers(-1, 1)))
def test_conv2d_backward_agrees_with_autograd_or_both_reject(c, mask, dy_shape_change):
    x = normal_array(c["seed"], c["x_shape"], c["dtype"])
    w = normal_array(c["seed"] + 1, c["w_shape"], c["dtype"]) if min(c["w_shape"]) >= 0 else None
    forward = run(lambda: torch_conv2d_grads(c, x, w, dy_shape_change, c["seed"]))
    # Without a torch forward, grad_output gets a plausible shape: convinit must still reject.
    dy = forward.value[0] if forward.error is None else normal_array(c["seed"] + 3, (1,) * len(c["x_shape"]),
                                                                     c["dtype"])
    ref = Outcome(value=forward.value[1]) if forward.error is None else forward
    if forward.error is None and dy_shape_change:
        ref = Outcome(error=ValueError("grad_output of the wrong shape"))
    ours = run(lambda: convinit.conv2d_backward(x, w, dy, c["stride"], c["padding"], c["dilation"], c["groups"],
                                                mask, padding_mode=c["padding_mode"], threads=1))
    divergence = conv_divergence(c, ours, forward, None) if forward.error is not None or ours.error else None
    compare_gradients(ours, ref, mask, c["dtype"], divergence)


@st.composite
def transpose_calls(draw: Any) -> dict:
    groups = draw(mostly(st.integers(1, 3), st.integers(-1, 4)))
    g = max(groups, 1)
    cin = draw(st.integers(0, 2)) * g + draw(mostly(st.just(0), st.integers(-1, 1)))
    batched = draw(st.booleans())
    x_shape = ((draw(st.integers(0, 2)),) if batched else ()) + (max(cin, 0),) + tuple(
        draw(st.lists(st.integers(0, 6), min_size=2, max_size=2)))
    kernel = tuple(draw(st.lists(mostly(st.integers(1, 3), st.integers(0, 4)), min_size=2, max_size=2)))
    w_in = draw(mostly(st.just(max(cin, 0)), st.integers(0, 3)))
    return dict(
        x_shape=x_shape,
        w_shape=(w_in, draw(st.integers(0, 3))) + kernel,
        bias=draw(st.booleans()),
        stride=draw(per_axis(2, mostly(st.integers(1, 3), st.integers(-1, 0)))),
        padding=draw(per_axis(2, mostly(st.integers(0, 2), st.just(-1)))),
        output_padding=draw(per_axis(2, mostly(st.integers(0, 1), st.integers(-1, 3)))),
        groups=groups,
        dilation=draw(per_axis(2, mostly(st.integers(1, 2), st.integers(-1, 0)))),
        dtype=draw(DTYPES),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def transpose_divergence(c: dict, ours: Outcome, ref: Outcome, b: np.ndarray | None) -> str | None:
    """Known divergences of conv_transpose2d from torch's.

    * An input with no elements: torch's empty-input shortcut returns
      without checking the other arguments, convinit checks them.
    * A 1-element tuple means that value on both axes in convinit; torch
      refuses it here (but not in conv2d).
    * No input channels: as for conv2d, convinit returns the bias (an
      empty sum), torch raises.
    * No output channels: as for conv2d, convinit returns an empty array,
      torch raises (RuntimeError, or IndexError on an empty batch).
    """
    if c["w_shape"][1] == 0 and ref.error is not None:
        assert ours.error is not None or ours.value.size == 0
        return "no output channels"
    if c["w_shape"][0] == 0 and ref.error is not None and "expected weight to be at least" in str(ref.error):
        if ours.error is None:
            out = ours.value if len(c["x_shape"]) == 4 else ours.value[None]
            assert np.all(out == (0 if b is None else b.reshape(1, -1, 1, 1)))
        return "no input channels"
    if ref.error is None and ours.error is not None and math.prod(c["x_shape"]) == 0:
        assert isinstance(ours.error, ValueError), ours
        return "torch's empty-input shortcut skips argument checks"
    if ref.error is not None and any(isinstance(c[k], tuple) and len(c[k]) == 1
                                     for k in ("stride", "padding", "output_padding", "dilation")):
        return "1-element tuple broadcast"
    return None


@FUZZ
@given(transpose_calls())
def test_conv_transpose2d_agrees_with_torch_or_both_reject(c):
    x = normal_array(c["seed"], c["x_shape"], c["dtype"])
    w = normal_array(c["seed"] + 1, c["w_shape"], c["dtype"]) if min(c["w_shape"]) >= 0 else None
    out_channels = c["w_shape"][1] * max(c["groups"], 1)
    b = normal_array(c["seed"] + 2, (out_channels,), c["dtype"]) if c["bias"] else None
    args = (c["stride"], c["padding"], c["output_padding"], c["groups"], c["dilation"])
    ours = run(lambda: convinit.conv_transpose2d(x, w, b, *args, threads=1))
    ref = run(lambda: torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)),
        None if b is None else torch.from_numpy(b.astype(np.float64)), *args))
    compare(ours, ref, to_numpy, c["dtype"], transpose_divergence(c, ours, ref, b))


# ---- unfold and fold ---------------------------------------------------------

@st.composite
def window_args(draw: Any) -> dict:
    return dict(
        kernel_size=draw(per_axis(2, mostly(st.integers(1, 3), st.integers(-1, 0)))),
        dilation=draw(per_axis(2, mostly(st.integers(1, 2), st.integers(-1, 0)))),
        padding=draw(per_axis(2, mostly(st.integers(0, 2), st.just(-1)))),
        stride=draw(per_axis(2, mostly(st.integers(1, 3), st.integers(-1, 0)))),
    )


@FUZZ
@given(st.lists(st.integers(0, 6), min_size=3, max_size=5).map(tuple), window_args(), DTYPES,
       st.integers(0, 2**32 - 1))
def test_unfold_agrees_with_torch_or_both_reject(shape, args, dtype, seed):
    x = normal_array(seed, shape, dtype)
    ours = run(lambda: convinit.unfold(x, **args, threads=1))
    ref = run(lambda: torch.nn.functional.unfold(torch.from_numpy(x.astype(np.float64)), **args))
    compare(ours, ref, to_numpy, dtype, window_divergence(ours, ref, shape[-3:] if len(shape) == 4 else shape, args))


def window_divergence(ours: Outcome, ref: Outcome, non_batch: tuple, args: dict) -> str | None:
    """Known divergences of unfold/fold from torch.

    * A 1-element tuple argument means that value on both axes in
      convinit (as in torch's conv2d); torch's unfold/fold refuse it.
    * torch refuses zero-size non-batch dimensions; convinit returns the
      result of the same formula, in which every value comes from the
      (zero) padding or from nothing.
    """
    if ref.error is None:
        return None
    if any(isinstance(v, tuple) and len(v) == 1 for v in args.values()):
        return "1-element tuple broadcast"
    if "non-zero dimensions" not in str(ref.error) or 0 not in non_batch:
        return None
    if ours.error is None:
        assert not np.any(ours.value)
    return "zero-size dimensions: torch raises, convinit returns an empty array"


@FUZZ
@given(st.integers(0, 2), st.integers(0, 2), st.lists(st.integers(0, 6), min_size=2, max_size=2).map(tuple),
       window_args(), st.integers(-1, 1), st.booleans(), DTYPES, st.integers(0, 2**32 - 1))
def test_fold_agrees_with_torch_or_both_reject(batch, channels, output_size, args, extra, batched, dtype, seed):
    # Size the columns from the geometry when it is valid, off by `extra` blocks.
    kernel = args["kernel_size"]
    taps = math.prod(kernel) if isinstance(kernel, tuple) else kernel * kernel
    blocks = run(lambda: convinit.conv_output_size(output_size, args["kernel_size"], args["stride"],
                                                   args["padding"], args["dilation"]))
    length = (math.prod(blocks.value) if blocks.error is None else 1) + extra
    shape = ((batch,) if batched else ()) + (channels * max(taps, 0), max(length, 0))
    cols = normal_array(seed, shape, dtype)
    ours = run(lambda: convinit.fold(cols, output_size, **args, threads=1))
    ref = run(lambda: torch.nn.functional.fold(torch.from_numpy(cols.astype(np.float64)), output_size, **args))
    compare(ours, ref, to_numpy, dtype, window_divergence(ours, ref, shape[-2:], args))


# ---- correlate2d / convolve2d ------------------------------------------------------

@FUZZ
@given(st.lists(st.integers(0, 6), min_size=2, max_size=2), st.lists(st.integers(0, 5), min_size=2, max_size=2),
       st.sampled_from(["full", "same", "valid"]), st.sampled_from(["fill", "wrap", "symm"]),
       st.sampled_from([np.float32, np.float64, np.int64]), st.floats(-3, 3), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_correlate2d_agrees_with_scipy_or_both_reject(s1, s2, mode, boundary, dtype, fillvalue, flipped, seed):
    a = (normal_array(seed, tuple(s1), np.float64) * 4).astype(dtype)
    b = (normal_array(seed + 1, tuple(s2), np.float64) * 4).astype(dtype)
    ours_fn, ref_fn = ((convinit.convolve2d, scipy.signal.convolve2d) if flipped
                       else (convinit.correlate2d, scipy.signal.correlate2d))
    ours = run(lambda: ours_fn(a, b, mode, boundary, fillvalue, threads=1))
    if 0 in s1 + s2:
        # Known divergence: convinit refuses empty inputs with ValueError.
        # SciPy raises for some modes, returns arbitrary shapes for others
        # ('valid' of two empty arrays is 1x1) and dies of SIGFPE with
        # 'wrap'/'symm', so it is not called.
        assert isinstance(ours.error, ValueError), ours
        return
    ref = run(lambda: ref_fn(a.astype(np.float64), b.astype(np.float64), mode, boundary, fillvalue))
    compare(ours, ref, lambda r: r, np.float32 if dtype == np.float32 else np.float64)


# ---- fills -------------------------------------------------------------------------

FINITE = st.floats(-1e3, 1e3, allow_nan=False)
ANY_FLOAT = st.one_of(FINITE, FINITE, st.sampled_from([math.inf, -math.inf, math.nan, 0.0, -1.0]))
SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


def _torch_fill(name: str, shape: tuple, params: tuple) -> Any:
    return getattr(torch.nn.init, name + "_")(torch.empty(shape, dtype=torch.float64), *params)


def _representable_between(low: float, high: float, dtype: np.dtype) -> bool:
    """Whether some value of ``dtype`` lies in [low, high)."""
    first = dtype.type(low)
    if float(first) < low:
        first = np.nextafter(first, dtype.type(np.inf))
    return float(first) < high


def _check_values(name: str, params: tuple, values: np.ndarray) -> None:
    """What the distribution's definition guarantees of every value."""
    if (name == "uniform" and all(map(math.isfinite, params))
            and _representable_between(params[0], params[1], values.dtype)):
        assert np.all((values >= params[0]) & (values <= params[1])), "uniform value outside [a, b]"
    if (name == "trunc_normal" and all(map(math.isfinite, params)) and params[1] > 0
            and _representable_between(params[2], params[3], values.dtype)):
        assert np.all((values >= params[2]) & (values <= params[3])), "trunc_normal value outside [a, b]"
    if all(map(math.isfinite, params)) and not (name == "normal" and params[1] < 0):
        assert np.all(np.isfinite(values)), "non-finite value from finite parameters"


@FUZZ
@given(st.sampled_from(["uniform", "normal", "trunc_normal"]), SHAPES, st.lists(ANY_FLOAT, min_size=4, max_size=4),
       st.sampled_from(["float32", "float64"]), st.integers(0, 2**64 - 1), st.one_of(st.none(), st.tuples(
           st.integers(-1, 130), st.integers(-1, 130))))
def test_distribution_fills_are_valid_or_rejected(name, shape, raw, dtype, seed, flat_range):
    params = tuple(raw[: {"uniform": 2, "normal": 2, "trunc_normal": 4}[name]])
    fill = getattr(init, name)
    ours = run(lambda: fill(shape, *params, seed=seed, dtype=dtype, flat_range=flat_range))
    if ours.error is not None:
        assert_clean(ours.error)
        return
    values = ours.value
    full = fill(shape, *params, seed=seed, dtype=dtype)
    assert values.dtype == np.dtype(dtype) and full.shape == shape
    if flat_range is not None:
        # A shard is exactly that slice of the whole fill.
        np.testing.assert_array_equal(values, full.ravel()[flat_range[0]:flat_range[1]])
    _check_values(name, params, full)
    # torch accepts these parameters too (shape and value checks are convinit's
    # own). Not called with infinite or NaN parameters, on which torch's
    # fills can spin for minutes.
    if not all(map(math.isfinite, params)):
        return
    ref = run(lambda: _torch_fill(name, shape, params))
    if ref.error is not None and math.prod(shape) > 0:
        assert not all(map(math.isfinite, params)) or name != "uniform" or params[0] > params[1], ref.error


WEIGHT_FILLS = ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]


def _weight_fill_args(name: str, draw: Any) -> tuple:
    if name.startswith("xavier") or name == "orthogonal":
        return (draw(st.floats(0, 4)),)
    if name.startswith("kaiming"):
        return (draw(st.floats(0, 1)), draw(st.sampled_from(["fan_in", "fan_out", "fan_x"])),
                draw(st.sampled_from(["relu", "leaky_relu", "tanh", "linear", "nope"])))
    return (draw(st.floats(-0.5, 1.5)), draw(st.floats(0, 1)))


@st.composite
def weight_fill_calls(draw: Any) -> tuple:
    name = draw(st.sampled_from(WEIGHT_FILLS))
    return name, draw(SHAPES), _weight_fill_args(name, draw), draw(st.integers(0, 2**32 - 1))


@FUZZ
@given(weight_fill_calls())
def test_weight_fills_accept_what_torch_accepts(call):
    name, shape, args, seed = call
    ours = run(lambda: getattr(init, name)(shape, *args, seed=seed, dtype="float64"))
    ref = run(lambda: _torch_fill(name, shape, args))
    if ours.error is not None and not isinstance(ours.error, ZeroDivisionError):
        assert_clean(ours.error)
    # Known divergence: torch's sparse_ takes any sparsity; convinit requires [0, 1].
    if name == "sparse" and not 0 <= args[0] <= 1:
        assert isinstance(ours.error, ValueError)
        return
    # torch and convinit both raise ZeroDivisionError for xavier fills of zero fans.
    assert (ours.error is None) == (ref.error is None), (ours.error, ref.error)
    if ours.error is None:
        assert ours.value.shape == shape and np.all(np.isfinite(ours.value))
        _check_weight_fill(name, shape, args, ours.value)


def _check_weight_fill(name: str, shape: tuple, args: tuple, values: np.ndarray) -> None:
    """The bound, orthogonality or sparsity the fill's definition promises,
    with fans and gains from torch.nn.init."""
    if values.size == 0:
        return
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if name == "xavier_uniform":
        assert np.max(np.abs(values)) <= args[0] * math.sqrt(6.0 / (fan_in + fan_out)) * (1 + 1e-12)
    if name == "kaiming_uniform":
        fan = fan_in if args[1] == "fan_in" else fan_out
        bound = torch.nn.init.calculate_gain(args[2], args[0]) * math.sqrt(3.0 / fan)
        assert np.max(np.abs(values)) <= bound * (1 + 1e-12)
    if name == "orthogonal":
        flat = values.reshape(shape[0], -1)
        small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(small, args[0] ** 2 * np.eye(small.shape[0]), atol=1e-9 * max(1, args[0] ** 2))
    if name == "sparse":
        zeros_per_column = np.sum(values == 0, axis=0)
        assert np.all(zeros_per_column >= math.ceil(args[0] * shape[0]))
