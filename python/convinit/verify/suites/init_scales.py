"""The init suite's cross product: every fill that takes a gain, mode or
distribution parameters x every nonlinearity ``calculate_gain`` knows (with
and without its parameter) x ``mode`` x tensor ranks 2-5 (fan_in != fan_out,
receptive fields whose axes differ) x float32/float64, each checked by one
scale test: the sample std against the expected std (normal fills), or the
extremes against the bound plus containment (uniform fills).

A wrong gain for one (initializer, nonlinearity) pair, a wrong mode, or a
receptive field taken from the wrong axis for one rank changes the scale of
exactly the cases that cover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .. import stats
from ..context import Budget, Context
from ..records import Check, Task, equal_check, stat_check
from .common import as_array, case_seed

# One shape per rank; fan_in != fan_out, and the receptive field's axes differ
# in length so that taking it from a wrong axis changes the fans.
RANK_SHAPES = {2: (48, 96), 3: (24, 40, 5), 4: (32, 16, 3, 5), 5: (8, 12, 3, 2, 2)}
DTYPES = ("float32", "float64")
MODES = ("fan_in", "fan_out")
# (nonlinearity, param) for calculate_gain; kaiming_* take the param as ``a``.
NONLINEARITIES = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
                  ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
                  ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                  ("leaky_relu", math.sqrt(5)), ("selu", None)]
# Parameters of the distribution fills (mean/std, bounds), each over every rank and dtype.
DISTRIBUTION_PARAMS = [
    ("uniform", {"a": -0.3, "b": 0.7}), ("uniform", {"a": 2.0, "b": 2.5}),
    ("normal", {"mean": 0.5, "std": 0.2}), ("normal", {"mean": 0.0, "std": 0.02}),
    ("trunc_normal", {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0}),
    ("trunc_normal", {"mean": 0.1, "std": 0.02, "a": 0.07, "b": 0.16}),
    ("trunc_normal", {"mean": 0.0, "std": 0.02, "a": -0.04, "b": 0.04}),
]
# Values only float32 rounding can add beyond an exact bound (relative).
BOUND_SLACK = 1e-6


def gain_label(nonlinearity: str, param: object) -> str:
    return nonlinearity if param is None else f"{nonlinearity}({param:.4g})"


def scaled_params(fill: str, nonlinearity: str, param: object, mode: str) -> dict:
    """The call's keyword arguments: xavier_* take ``gain=calculate_gain(...)``
    (resolved by the reference at run time), kaiming_* the nonlinearity itself."""
    if fill.startswith("xavier"):
        return {}
    params: dict[str, object] = {"mode": mode, "nonlinearity": nonlinearity}
    if param is not None:
        params["a"] = param
    return params


@dataclass(frozen=True)
class ScaleCase:
    fill: str
    shape: tuple[int, ...]
    dtype: str
    params: tuple = ()              # sorted (name, value) pairs of the fill's parameters
    gain_of: tuple = ()             # xavier: the (nonlinearity, param) whose gain is passed

    @property
    def uniform_family(self) -> bool:
        return self.fill.endswith("uniform")

    @property
    def label(self) -> str:
        parts = [str(self.shape).replace(" ", "")]
        if self.gain_of:
            parts.append("gain=" + gain_label(*self.gain_of))
        for key, value in self.params:
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{value}")
        return f"{self.fill}[{'-'.join(parts + [self.dtype])}]"

    def call_params(self, ctx: Context) -> dict:
        params = dict(self.params)
        if self.gain_of:
            params["gain"] = gain_reference(ctx)(*self.gain_of)
        return params


def gain_reference(ctx: Context):
    return ctx.refs.gain().fn


def scale_cases() -> list[ScaleCase]:
    cases = []
    for shape in RANK_SHAPES.values():
        for dtype in DTYPES:
            for fill in ("xavier_uniform", "xavier_normal"):
                cases += [ScaleCase(fill, shape, dtype, gain_of=g) for g in NONLINEARITIES]
            for fill in ("kaiming_uniform", "kaiming_normal"):
                cases += [ScaleCase(fill, shape, dtype, tuple(scaled_params(fill, nl, p, mode).items()))
                          for nl, p in NONLINEARITIES for mode in MODES]
            cases += [ScaleCase(fill, shape, dtype, tuple(params.items())) for fill, params in DISTRIBUTION_PARAMS]
    return cases


def expected_law(case: ScaleCase, params: dict, ctx: Context) -> tuple[str, float, float, tuple]:
    """(reference label, centre, std or bound, support) a correct fill draws with."""
    if case.fill == "uniform":
        a, b = params["a"], params["b"]
        return f"U({a:g}, {b:g})", (a + b) / 2, (b - a) / 2, (a, b)
    if case.fill == "normal":
        return f"N({params['mean']:g}, {params['std']:g}^2)", params["mean"], params["std"], ()
    if case.fill == "trunc_normal":
        mean, std, a, b = (params[k] for k in ("mean", "std", "a", "b"))
        dist = sps.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
        return f"N({mean:g}, {std:g}^2) cut to [{a:g}, {b:g}]", float(dist.mean()), float(dist.std()), (a, b)
    source, scale = ctx.refs.scale(case.fill, case.shape, params)
    if case.uniform_family:
        return f"U(+-{scale:.6g}) from {source}", 0.0, scale, (-scale, scale)
    return f"N(0, {scale:.6g}^2) from {source}", 0.0, scale, ()


def draw(ctx: Context, case: ScaleCase, params: dict, samples: int) -> np.ndarray:
    """``samples`` values (at least) pooled over consecutive seeds; the dtype is checked."""
    fn, size = ctx.backend.get(case.fill), math.prod(case.shape)
    first = case_seed(ctx.seed, case.label)
    draws = [as_array(fn(case.shape, **params, seed=first + k, dtype=case.dtype))
             for k in range(math.ceil(samples / size))]
    wrong = [str(d.dtype) for d in draws if d.dtype != np.dtype(case.dtype) or d.shape != case.shape]
    if wrong:
        raise ValueError(f"returned {wrong[0]} / shape {draws[0].shape} for dtype={case.dtype}, shape {case.shape}")
    return np.concatenate([d.ravel() for d in draws]).astype(np.float64)


def scale_task(case: ScaleCase) -> Task:
    def run(ctx: Context) -> list[Check]:
        params = case.call_params(ctx)
        reference, centre, scale, support = expected_law(case, params, ctx)
        x = draw(ctx, case, params, ctx.budget.scale_samples)
        checks = []
        if support:
            low, high = support
            slack = BOUND_SLACK * max(abs(low), abs(high))
            outside = int(np.sum((x < low - slack) | (x > high + slack)))
            checks.append(equal_check(f"{case.label}: within bounds", reference, outside,
                                      f"range [{x.min():.7g}, {x.max():.7g}]", metric="values outside"))
        if case.uniform_family:
            result = stats.support_test(x, centre - scale, centre + scale, ctx.alpha)
        else:
            kurtosis = 3.0 if not support else stats.standardized_moments(
                sps.truncnorm(*(((s - params["mean"]) / params["std"]) for s in support),
                              loc=params["mean"], scale=params["std"]))[0]
            result = stats.std_z_test(x, centre, scale, kurtosis, ctx.alpha)
        checks.append(stat_check(f"{case.label}: scale ({result.test})", reference, result, result.estimate))
        return checks

    return Task("init", f"{case.label} scale", (case.fill,), run, tests=1)


def plan_scales(budget: Budget) -> list[Task]:
    return [scale_task(case) for case in scale_cases()]
