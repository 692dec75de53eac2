"""The self-test's catalog of broken implementations: each wraps a correct
backend's functions and introduces exactly one kind of bug.

Wrappers assume the harness's calling convention (fill parameters by
keyword; conv arguments as ``conv(x, w, b, stride=..., ...)``) and keep the
wrapped function's signature (``functools.wraps``), so checks that look for
``threads=``/``flat_range=``/``generator=`` treat them like the original.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import reference
from .backends import RANDOM_FILLS, Backend
from .suites.common import as_array
from .suites.init_scales import NONLINEARITIES

NORMAL_FILLS = ("normal", "xavier_normal", "kaiming_normal")
UNIFORM_FILLS = ("uniform", "xavier_uniform", "kaiming_uniform")
CONVS = ("conv1d", "conv2d", "conv3d")
CALL_KEYWORDS = ("seed", "generator", "dtype", "flat_range", "threads")


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    build: Callable[[Backend], dict[str, Callable]]   # replacements for some of the backend's functions
    hint: tuple[str, ...] = ()                       # substrings of the task names most likely to catch it


CATALOG: list[Mutant] = []


def mutant(name: str, bug: str) -> Callable:
    def register(build: Callable[[Backend], dict[str, Callable]]) -> Callable:
        CATALOG.append(Mutant(name, bug, build))
        return build

    return register


def _each(backend: Backend, names: tuple[str, ...], make: Callable[[str, Callable], Callable]) -> dict:
    """``make(name, original)`` for every ``name`` the backend has, keeping its signature."""
    return {n: functools.wraps(backend.get(n))(make(n, backend.get(n))) for n in names if backend.has(n)}


def _values(fn: Callable, transform: Callable[[np.ndarray, tuple, dict], np.ndarray]) -> Callable:
    """A fill whose output is ``transform(values, shape, kwargs)``, in the original dtype."""
    def fill(shape, *args, **kwargs):
        out = as_array(fn(shape, *args, **kwargs))
        return transform(out.astype(np.float64), tuple(shape), kwargs).astype(out.dtype)

    return fill


def _arguments(fn: Callable, change: Callable[[dict], dict]) -> Callable:
    """A fill called with changed keyword arguments."""
    def fill(shape, *args, **kwargs):
        return fn(shape, *args, **change(dict(kwargs)))

    return fill


def _centre(name: str, kwargs: dict) -> float:
    if name == "normal":
        return kwargs.get("mean", 0.0)
    if name == "uniform":
        return (kwargs.get("a", 0.0) + kwargs.get("b", 1.0)) / 2
    return 0.0


def _scale_about_centre(factor: float) -> Callable[[str, Callable], Callable]:
    def make(name: str, fn: Callable) -> Callable:
        return _values(fn, lambda x, shape, kw: _centre(name, kw) + (x - _centre(name, kw)) * factor)

    return make


def _formula_scale(name: str, shape: tuple, kwargs: dict) -> float:
    """The std or bound a correct fill uses (for mutants that misuse it)."""
    params = {k: v for k, v in kwargs.items() if k not in CALL_KEYWORDS}
    if name == "normal":
        return params.get("std", 1.0)
    if name == "uniform":
        return (params.get("b", 1.0) - params.get("a", 0.0)) / 2
    return reference.init_scale(name, shape, **params)


@mutant("std +2%", "normal, xavier_normal and kaiming_normal draw with a std 2% too large")
def std_too_large(backend: Backend) -> dict:
    return _each(backend, NORMAL_FILLS, _scale_about_centre(1.02))


@mutant("uniform bound -3%", "uniform, xavier_uniform and kaiming_uniform bounds 3% short")
def bound_short(backend: Backend) -> dict:
    return _each(backend, UNIFORM_FILLS, _scale_about_centre(0.97))


@mutant("fan_in/fan_out swapped", "fans() returns (fan_out, fan_in); kaiming_* use the other mode")
def fans_swapped(backend: Backend) -> dict:
    other = {"fan_in": "fan_out", "fan_out": "fan_in"}
    out = _each(backend, ("fans",), lambda n, fn: lambda shape: tuple(fn(shape))[::-1])
    out.update(_each(backend, ("kaiming_uniform", "kaiming_normal"), lambda n, fn: _arguments(
        fn, lambda kw: {**kw, "mode": other[kw.get("mode", "fan_in")]})))
    return out


@mutant("gain missing", "calculate_gain returns 1; kaiming_* ignore the nonlinearity, xavier_* ignore gain=")
def gain_missing(backend: Backend) -> dict:
    out = _each(backend, ("calculate_gain",), lambda n, fn: lambda nonlinearity, param=None: 1.0)
    out.update(_each(backend, ("kaiming_uniform", "kaiming_normal"), lambda n, fn: _arguments(
        fn, lambda kw: {**kw, "nonlinearity": "linear"})))
    out.update(_each(backend, ("xavier_uniform", "xavier_normal"), lambda n, fn: _arguments(
        fn, lambda kw: {**kw, "gain": 1.0})))
    return out


@mutant("tanh gain wrong", "tanh gets ReLU's gain sqrt(2) instead of 5/3 (calculate_gain and kaiming_*)")
def tanh_gain_wrong(backend: Backend) -> dict:
    def relu_for_tanh(kw: dict) -> dict:
        return {**kw, "nonlinearity": "relu"} if kw.get("nonlinearity") == "tanh" else kw

    out = _each(backend, ("calculate_gain",), lambda n, fn: lambda nonlinearity, param=None: (
        math.sqrt(2.0) if nonlinearity == "tanh" else fn(nonlinearity, param)))
    out.update(_each(backend, ("kaiming_uniform", "kaiming_normal"), lambda n, fn: _arguments(fn, relu_for_tanh)))
    return out


@mutant("variance as std", "normal fills use std^2 where std belongs")
def variance_as_std(backend: Backend) -> dict:
    def make(name: str, fn: Callable) -> Callable:
        def transform(x: np.ndarray, shape: tuple, kw: dict) -> np.ndarray:
            centre = _centre(name, kw)
            return centre + (x - centre) * _formula_scale(name, shape, kw)

        return _values(fn, transform)

    return _each(backend, NORMAL_FILLS, make)


@mutant("biased uniform", "uniform fills shifted up by 2% of their half-width")
def biased_uniform(backend: Backend) -> dict:
    return _each(backend, UNIFORM_FILLS, lambda name, fn: _values(
        fn, lambda x, shape, kw: x + 0.02 * _formula_scale(name, shape, kw)))


def _conv(fn: Callable, change: Callable[[dict], dict]) -> Callable:
    """A conv whose arguments go through ``change`` (a dict by parameter name)."""
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", **kwargs):
        a = change(dict(input=as_array(input), weight=as_array(weight), bias=bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups, padding_mode=padding_mode))
        return fn(a["input"], a["weight"], a["bias"], a["stride"], a["padding"], a["dilation"], a["groups"],
                  a["padding_mode"], **kwargs)

    return conv


@mutant("kernel flipped", "conv*d convolve (kernel flipped) instead of correlating; correlate2d/convolve2d swapped")
def kernel_flipped(backend: Backend) -> dict:
    out = _each(backend, CONVS, lambda n, fn: _conv(fn, lambda a: {
        **a, "weight": np.flip(a["weight"], tuple(range(2, a["weight"].ndim))).copy()}))
    if backend.has("correlate2d", "convolve2d"):
        swapped = {"correlate2d": backend.get("convolve2d"), "convolve2d": backend.get("correlate2d")}
        out.update(_each(backend, tuple(swapped), lambda n, fn: lambda *a, **kw: swapped[n](*a, **kw)))
    return out


def _shift_padding(a: dict) -> dict:
    """Zero padding one pixel off on every padded axis: before+1/after-1 (or the reverse)."""
    if a["padding_mode"] != "zeros":
        return a
    dims = a["weight"].ndim - 2
    before, after = reference.resolve_padding(a["padding"], a["weight"].shape[2:],
                                              reference.spatial_tuple(a["dilation"], dims))
    if not any(before + after):
        return a
    shifted = [(b + 1, f - 1) if f else (b - 1, f + 1) if b else (b, f) for b, f in zip(before, after)]
    x = reference.pad(a["input"], [s[0] for s in shifted], [s[1] for s in shifted])
    return {**a, "input": x, "padding": 0}


@mutant("padding shifted", "zero padding one pixel off (before+1, after-1)")
def padding_shifted(backend: Backend) -> dict:
    return _each(backend, CONVS, lambda n, fn: _conv(fn, _shift_padding))


@mutant("bias ignored", "conv*d drop the bias")
def bias_ignored(backend: Backend) -> dict:
    return _each(backend, CONVS, lambda n, fn: _conv(fn, lambda a: {**a, "bias": None}))


class _OverlappingGenerator:
    """Stream s is stream 0 started s words in: the streams overlap."""

    def __init__(self, base: Callable, seed: int, stream: int = 0):
        self.inner = base(seed, 0)
        if stream % 4096:
            self.inner.random_raw(stream % 4096)

    def random_raw(self, n: int) -> np.ndarray:
        return self.inner.random_raw(n)


def _overlapping_fill(fn: Callable) -> Callable:
    """Seed s gives seed 0's values rotated by s: one stream shared by every seed."""
    def fill(shape, *args, seed=None, flat_range=None, **kwargs):
        if isinstance(kwargs.get("generator"), _OverlappingGenerator):
            kwargs["generator"] = kwargs["generator"].inner
        if seed is None:
            return fn(shape, *args, **kwargs, **({} if flat_range is None else {"flat_range": flat_range}))
        full = as_array(fn(shape, *args, seed=0, **kwargs)).ravel()
        out = np.roll(full, seed % full.size)
        return out[slice(*flat_range)].copy() if flat_range is not None else out.reshape(shape)

    return fill


@mutant("correlated streams", "Generator streams overlap; the fill of seed s is seed 0's fill shifted by s")
def correlated_streams(backend: Backend) -> dict:
    out = _each(backend, RANDOM_FILLS, lambda n, fn: _overlapping_fill(fn))
    if backend.has("Generator"):
        base = backend.get("Generator")
        out["Generator"] = functools.partial(_OverlappingGenerator, base)
    return out


def _channel_split_conv(fn: Callable) -> Callable:
    """conv2d that, unless threads=1, sums two halves of the channels separately (other rounding)."""
    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", *,
               threads=None, **kwargs):
        x, w = as_array(input), as_array(weight)
        if threads == 1 or groups != 1 or w.shape[1] < 2:
            return fn(x, w, bias, stride, padding, dilation, groups, padding_mode, threads=threads, **kwargs)
        half, axis, channels = w.shape[1] // 2, x.ndim - 3, w.shape[1]
        first = fn(np.take(x, range(half), axis), w[:, :half], None, stride, padding, dilation, 1, padding_mode,
                   threads=1, **kwargs)
        second = fn(np.take(x, range(half, channels), axis), w[:, half:], bias, stride, padding, dilation, 1,
                    padding_mode, threads=1, **kwargs)
        return as_array(first) + as_array(second)

    return conv2d


@mutant("thread-dependent conv", "conv2d's rounding depends on threads= (channel sum split when threads != 1)")
def thread_dependent_conv(backend: Backend) -> dict:
    return _each(backend, ("conv2d",), lambda n, fn: _channel_split_conv(fn))


@mutant("thread-dependent fills", "fills called from a worker thread use seed + 1")
def thread_dependent_fills(backend: Backend) -> dict:
    def make(name: str, fn: Callable) -> Callable:
        def fill(shape, *args, seed=None, **kwargs):
            if seed is not None and threading.current_thread() is not threading.main_thread():
                seed += 1
            return fn(shape, *args, seed=seed, **kwargs)

        return fill

    return _each(backend, RANDOM_FILLS, make)


@mutant("shard offset", "flat_range=(start, stop) returns full[start+1:stop+1]")
def shard_offset(backend: Backend) -> dict:
    def make(name: str, fn: Callable) -> Callable:
        def fill(shape, *args, flat_range=None, **kwargs):
            full = fn(shape, *args, **kwargs)
            if flat_range is None:
                return full
            return as_array(full).ravel()[flat_range[0] + 1:flat_range[1] + 1].copy()

        return fill

    return _each(backend, RANDOM_FILLS, make)


class _SevenRoundGenerator(reference.Generator):
    def random_raw(self, n: int) -> np.ndarray:
        words = reference.philox_words(self.seed, self.stream, self._position, int(n), rounds=7)
        self._position += int(n)
        return words


@mutant("Philox 7 rounds", "philox4x32_10 and Generator run 7 rounds instead of 10")
def philox_seven_rounds(backend: Backend) -> dict:
    def philox(counter: Any, key: Any) -> np.ndarray:
        return reference.philox4x32(np.asarray([counter], np.uint64), key, rounds=7)[0]

    out = _each(backend, ("philox4x32_10",), lambda n, fn: philox)
    if backend.has("Generator"):
        out["Generator"] = _SevenRoundGenerator
    return out


# ------------------------------------------------------------ generated families
# One mutant per (initializer, nonlinearity) pair, per rank, per mode and per
# conv parameter, generated from the same tables the suites cover. ``hint``
# names the tasks most likely to catch each one (the self-test runs those first).

GENERATED: list[Mutant] = []
GAIN_NONLINEARITIES = NONLINEARITIES
# A substitute gain differs from the right one by at least this much (relative):
# leaky_relu's default slope gives sqrt(2) to 0.005%, no statistical test of a
# sample tells them apart; calculate_gain's exact check does.
MIN_GAIN_CHANGE = 0.10


def _generated(name: str, bug: str, build: Callable[[Backend], dict], hint: tuple[str, ...] = ()) -> None:
    GENERATED.append(Mutant(name, bug, build, hint))


def substitute_gain(right: float) -> float:
    """The nearest gain of another nonlinearity differing from ``right`` by at least MIN_GAIN_CHANGE."""
    gains = {reference.calculate_gain(nl, p) for nl, p in GAIN_NONLINEARITIES}
    far = [g for g in gains if abs(g / right - 1) >= MIN_GAIN_CHANGE]
    return min(far, key=lambda g: abs(g / right - 1))


def _scaled_when(fn: Callable, matches: Callable[[dict], bool], factor: float) -> Callable:
    return _values(fn, lambda x, shape, kw: x * factor if matches(kw) else x)


def _kaiming_gain_mutant(fill: str, nonlinearity: str, param: Any) -> None:
    a = 0 if param is None else param
    right = reference.calculate_gain(nonlinearity, a)
    wrong = substitute_gain(right)

    def matches(kw: dict) -> bool:
        same_a = nonlinearity != "leaky_relu" or math.isclose(kw.get("a", 0), a)
        return kw.get("nonlinearity", "leaky_relu") == nonlinearity and same_a

    label = nonlinearity if param is None else f"{nonlinearity}({param:.4g})"
    _generated(f"{fill} gain[{label}]", f"{fill}(nonlinearity={label}) uses gain {wrong:.4g} instead of {right:.4g}",
               lambda b: _each(b, (fill,), lambda n, fn: _scaled_when(fn, matches, wrong / right)),
               (f"{fill}[", f"-{nonlinearity}-" + ("float" if param is None else f"a={param:.4g}-")))


def _xavier_gain_mutant(fill: str, right: float, label: str) -> None:
    wrong = substitute_gain(right)

    def matches(kw: dict) -> bool:
        return math.isclose(kw.get("gain", 1.0), right, rel_tol=1e-12)

    _generated(f"{fill} gain[{label}]", f"{fill}(gain={right:.4g}, {label}'s) draws with gain {wrong:.4g}",
               lambda b: _each(b, (fill,), lambda n, fn: _scaled_when(fn, matches, wrong / right)),
               (f"{fill}[", f"gain={label}"))


def _calculate_gain_mutant(nonlinearity: str, param: Any) -> None:
    right = reference.calculate_gain(nonlinearity, param)
    wrong = substitute_gain(right)

    def make(name: str, fn: Callable) -> Callable:
        def calculate_gain(nl, param_=None):
            hit = nl == nonlinearity and (param_ == param or (param_ is not None and param is not None
                                                              and math.isclose(param_, param)))
            return wrong if hit else fn(nl, param_)

        return calculate_gain

    label = nonlinearity if param is None else f"{nonlinearity}, {param:.4g}"
    _generated(f"calculate_gain[{label}]", f"calculate_gain({label}) returns {wrong:.4g}, not {right:.4g}",
               lambda b: _each(b, ("calculate_gain",), make), ("calculate_gain",))


def _gain_mutants() -> None:
    for fill in ("kaiming_uniform", "kaiming_normal"):
        for nonlinearity, param in GAIN_NONLINEARITIES:
            _kaiming_gain_mutant(fill, nonlinearity, param)
    distinct: dict[float, str] = {}
    for nonlinearity, param in GAIN_NONLINEARITIES:
        label = nonlinearity if param is None else f"{nonlinearity}({param:.4g})"
        distinct.setdefault(reference.calculate_gain(nonlinearity, param), label)
    for fill in ("xavier_uniform", "xavier_normal"):
        for gain, label in distinct.items():
            _xavier_gain_mutant(fill, gain, label)
    for nonlinearity, param in GAIN_NONLINEARITIES:
        _calculate_gain_mutant(nonlinearity, param)


# The receptive field taken from a wrong axis, one mistake per rank.
WRONG_RECEPTIVE_FIELD = {
    2: ("shape[1] (the input axis as kernel)", lambda s: s[1]),
    3: ("shape[1] instead of shape[2]", lambda s: s[1]),
    4: ("kh * kh (kw ignored)", lambda s: s[2] * s[2]),
    5: ("kd * kh (the last kernel axis dropped)", lambda s: s[2] * s[3]),
}
SCALED_FILLS = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")


def _wrong_fans(shape: tuple) -> tuple[int, int]:
    field = WRONG_RECEPTIVE_FIELD[len(shape)][1](shape)
    return shape[1] * field, shape[0] * field


def _receptive_field_mutant(rank: int) -> None:
    what = WRONG_RECEPTIVE_FIELD[rank][0]

    def factor(name: str, shape: tuple, kw: dict) -> float:
        params = {k: v for k, v in kw.items() if k not in CALL_KEYWORDS}
        right, wrong = reference.fans(shape), _wrong_fans(shape)
        if name.startswith("xavier"):
            return math.sqrt(sum(right) / sum(wrong))
        pick = 0 if params.get("mode", "fan_in") == "fan_in" else 1
        return math.sqrt(right[pick] / wrong[pick])

    def fill(name: str, fn: Callable) -> Callable:
        return _values(fn, lambda x, shape, kw: x * factor(name, shape, kw) if len(shape) == rank else x)

    def build(backend: Backend) -> dict:
        out = _each(backend, ("fans",), lambda n, fn: lambda shape: (
            _wrong_fans(tuple(shape)) if len(shape) == rank else fn(shape)))
        out.update(_each(backend, SCALED_FILLS, fill))
        return out

    _generated(f"receptive field[rank {rank}]", f"fans of rank-{rank} tensors use receptive field {what}", build,
               ("scale",))


def _mode_mutant(fill: str, mode: str) -> None:
    other = {"fan_in": "fan_out", "fan_out": "fan_in"}[mode]

    def change(kw: dict) -> dict:
        return {**kw, "mode": other} if kw.get("mode", "fan_in") == mode else kw

    _generated(f"{fill} mode[{mode}]", f"{fill}(mode={mode}) uses {other}",
               lambda b: _each(b, (fill,), lambda n, fn: _arguments(fn, change)), (f"{fill}[", f"-{mode}-"))


def _stride_offset(fn: Callable) -> Callable:
    """Subsampling starts at index stride-1 instead of 0."""
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", **kw):
        w = as_array(weight)
        dims = w.ndim - 2
        strides = reference.spatial_tuple(stride, dims)
        dense = as_array(fn(input, weight, bias, 1, padding, dilation, groups, padding_mode, **kw))
        picks = tuple(slice(s - 1, None, s) for s in strides)
        return np.ascontiguousarray(dense[(Ellipsis,) + picks])

    return conv


def _last_axis_dilation_ignored(a: dict) -> dict:
    dims = a["weight"].ndim - 2
    dilation = reference.spatial_tuple(a["dilation"], dims)
    return {**a, "dilation": dilation[:-1] + (1,)}


def _groups_rotated(a: dict) -> dict:
    """Group g's outputs computed with the next group's weights."""
    w = a["weight"]
    return {**a, "weight": np.roll(w, -(w.shape[0] // a["groups"]), axis=0).copy()} if a["groups"] > 1 else a


def _padding_as(mode: str, numpy_mode: Any) -> Callable[[dict], dict]:
    """``mode`` padding done as NumPy's ``numpy_mode`` (then a zero-padding-free conv)."""
    def change(a: dict) -> dict:
        if a["padding_mode"] != mode:
            return a
        dims = a["weight"].ndim - 2
        before, after = reference.resolve_padding(a["padding"], a["weight"].shape[2:],
                                                  reference.spatial_tuple(a["dilation"], dims))
        widths = [(0, 0)] * (a["input"].ndim - dims) + list(zip(before, after))
        return {**a, "input": np.pad(a["input"], widths, mode=numpy_mode), "padding": 0, "padding_mode": "zeros"}

    return change


def _same_extra_before(a: dict) -> dict:
    """padding="same" with an even total puts the extra pixel before instead of after."""
    if a["padding"] != "same":
        return a
    dims = a["weight"].ndim - 2
    before, after = reference.resolve_padding("same", a["weight"].shape[2:],
                                              reference.spatial_tuple(a["dilation"], dims))
    if before == after:
        return a
    x = reference.pad(a["input"], after, before, a["padding_mode"])
    return {**a, "input": x, "padding": 0}


CONV_PARAMETER_BUGS = [
    ("stride", "subsampling starts at index stride-1, not 0", lambda fn: _stride_offset(fn)),
    ("dilation", "dilation of the last spatial axis ignored", lambda fn: _conv(fn, _last_axis_dilation_ignored)),
    ("groups", "each group uses the next group's weights", lambda fn: _conv(fn, _groups_rotated)),
    ("padding same", '"same" with an even kernel pads the extra pixel before',
     lambda fn: _conv(fn, _same_extra_before)),
    ("padding_mode reflect", "reflect padding repeats the edge (NumPy's symmetric)",
     lambda fn: _conv(fn, _padding_as("reflect", "symmetric"))),
    ("padding_mode replicate", "replicate padding reflects", lambda fn: _conv(fn, _padding_as("replicate", "reflect"))),
    ("padding_mode circular", "circular padding replicates the edge",
     lambda fn: _conv(fn, _padding_as("circular", "edge"))),
]


def _wrapping(conv: str, wrap: Callable[[Callable], Callable]) -> Callable[[Backend], dict]:
    def build(backend: Backend) -> dict:
        return _each(backend, (conv,), lambda n, fn: wrap(fn))

    return build


def _conv_parameter_mutants() -> None:
    for parameter, bug, wrap in CONV_PARAMETER_BUGS:
        for conv in CONVS:
            _generated(f"{conv} {parameter}", f"{conv}: {bug}", _wrapping(conv, wrap), (conv,))


def _algorithm_mutant(algorithm: str) -> None:
    """conv2d's ``algorithm=...`` kernel drops the last output row and column (a partial tile)."""
    def make(name: str, fn: Callable) -> Callable:
        def conv2d(*args, **kwargs):
            out = as_array(fn(*args, **kwargs))
            if kwargs.get("algorithm") != algorithm:
                return out
            out = out.copy()
            out[..., -1, :] = 0
            out[..., :, -1] = 0
            return out

        return conv2d

    _generated(f"conv2d algorithm={algorithm}", f"conv2d(algorithm={algorithm!r}) leaves the last output row and "
               "column zero (a partial tile dropped)", lambda b: _each(b, ("conv2d",), make),
               (f"algorithm={algorithm}",))


_gain_mutants()
for _algorithm in ("auto", "im2col", "implicit_gemm", "winograd"):
    _algorithm_mutant(_algorithm)
for _rank in WRONG_RECEPTIVE_FIELD:
    _receptive_field_mutant(_rank)
for _fill in ("kaiming_uniform", "kaiming_normal"):
    for _mode in ("fan_in", "fan_out"):
        _mode_mutant(_fill, _mode)
_conv_parameter_mutants()


def all_mutants() -> list[Mutant]:
    """The hand-written catalog, then the generated families."""
    return CATALOG + GENERATED
