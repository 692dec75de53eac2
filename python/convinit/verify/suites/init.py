"""init: fans and gains against torch.nn.init; every fill's distribution
(KS, chi-square, mean and std z-tests, bounds) over several seeds and shapes
with fan_in != fan_out, its std/bound read off torch.nn.init; the fills'
contract (shape, dtype, reproducibility, in-place form); deterministic fills;
orthogonality and sparsity."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy import stats as sps

from .. import stats
from ..backends import DEFAULT_PARAMS, FIXED_FILLS, RANDOM_FILLS
from ..context import Budget, Context
from ..records import Check, Task, equal_check, error_check, stat_check
from . import register
from .common import as_array, bit_mismatches, case_seed, relative_max_error
from .init_scales import NONLINEARITIES, plan_scales

FAN_SHAPES = [(300, 100), (64, 32, 3, 3), (50, 20, 5), (8, 4, 3, 3, 3), (7, 1), (1, 1, 1, 1)]
GAINS = NONLINEARITIES + [("leaky_relu", 1)]
# Values only float32 rounding can add beyond an exact bound (relative).
BOUND_SLACK = 1e-6


@dataclass(frozen=True)
class FillCase:
    """One allocating fill with its parameters, drawn over several seeds."""

    fill: str
    shape: tuple[int, ...]
    params: dict = field(default_factory=dict)
    level: int = 0

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        return f"{self.fill}({self.shape}{', ' + args if args else ''})"

    @property
    def uniform_family(self) -> bool:
        return self.fill.endswith("uniform")

    @property
    def bounded(self) -> bool:
        return self.uniform_family or self.fill == "trunc_normal"

    @property
    def tests(self) -> int:
        return len(distribution_tests(self))


FILL_CASES = [
    FillCase("uniform", (300, 100), {"a": -0.3, "b": 0.7}),
    FillCase("normal", (300, 100), {"mean": 0.5, "std": 0.2}),
    FillCase("trunc_normal", (300, 100), {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0}),
    FillCase("trunc_normal", (64, 32, 3, 3), {"mean": 0.1, "std": 0.02, "a": 0.07, "b": 0.16}),
    FillCase("xavier_uniform", (64, 32, 3, 3), {"gain": 1.0}),
    FillCase("xavier_normal", (300, 100), {"gain": 5 / 3}),
    FillCase("kaiming_uniform", (300, 100), {"a": math.sqrt(5)}),      # torch's nn.Linear default
    FillCase("kaiming_uniform", (64, 32, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    FillCase("kaiming_normal", (64, 32, 3, 3), {"mode": "fan_in", "nonlinearity": "relu"}),
    FillCase("kaiming_normal", (50, 20, 5), {"mode": "fan_out", "nonlinearity": "relu"}),
    FillCase("kaiming_normal", (300, 100), {"mode": "fan_in", "nonlinearity": "tanh"}),
    FillCase("kaiming_normal", (32, 16, 3, 3), {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}),
    FillCase("sparse", (300, 100), {"sparsity": 0.1, "std": 0.01}),
    FillCase("uniform", (1000, 10), {"a": 2.0, "b": 2.5}, level=1),
    FillCase("trunc_normal", (300, 100), {"mean": 0.0, "std": 0.02, "a": -0.04, "b": 0.04}, level=1),
    FillCase("xavier_normal", (16, 8, 5, 5), {"gain": 1.0}, level=1),
    FillCase("kaiming_normal", (128, 64), {"mode": "fan_out", "nonlinearity": "selu"}, level=1),
]


def small_shape(fill: str) -> tuple[int, ...]:
    """A small valid shape with fan_in != fan_out (eye and sparse take 2-D only)."""
    return (30, 20) if fill in ("eye", "sparse") else (30, 20, 3)


@dataclass(frozen=True)
class Expected:
    dist: Any                                  # frozen scipy.stats distribution
    reference: str
    support: Optional[tuple[float, float]]     # exact bounds, if any


def expected(case: FillCase, ctx: Context) -> Expected:
    """The distribution a correct fill draws from; the xavier/kaiming scale from torch.nn.init."""
    p = case.params
    if case.fill == "uniform":
        return _uniform(p.get("a", 0.0), p.get("b", 1.0), f"U({p.get('a', 0.0):g}, {p.get('b', 1.0):g})")
    if case.fill in ("normal", "sparse"):
        mean, std = p.get("mean", 0.0), p.get("std", 1.0 if case.fill == "normal" else 0.01)
        return Expected(sps.norm(mean, std), f"N({mean:g}, {std:g}^2)", None)
    if case.fill == "trunc_normal":
        mean, std, a, b = p.get("mean", 0.0), p.get("std", 1.0), p.get("a", -2.0), p.get("b", 2.0)
        dist = sps.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
        return Expected(dist, f"N({mean:g}, {std:g}^2) cut to [{a:g}, {b:g}]", (a, b))
    source, scale = ctx.refs.scale(case.fill, case.shape, p)
    if case.uniform_family:
        return _uniform(-scale, scale, f"U(+-{scale:.6g}) from {source}")
    return Expected(sps.norm(0.0, scale), f"N(0, {scale:.6g}^2) from {source}", None)


def _uniform(low: float, high: float, reference: str) -> Expected:
    return Expected(sps.uniform(low, high - low), reference, (low, high))


def draw_pooled(fn: Any, case: FillCase, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` values pooled over as many seeds as it takes; also the first draw."""
    size = math.prod(case.shape)
    first_seed = case_seed(seed, case.label)
    draws = [as_array(fn(case.shape, **case.params, seed=first_seed + k)) for k in range(math.ceil(samples / size))]
    return np.concatenate([d.ravel() for d in draws]).astype(np.float64), draws[0]


def containment_check(name: str, x: np.ndarray, support: tuple[float, float], reference: str) -> Check:
    low, high = support
    slack = BOUND_SLACK * max(abs(low), abs(high))
    outside = int(np.sum((x < low - slack) | (x > high + slack)))
    return equal_check(f"{name}: all values within bounds", reference, outside,
                       f"range [{x.min():.7g}, {x.max():.7g}], bounds [{low:.7g}, {high:.7g}]",
                       metric="values outside")


def distribution_tests(case: FillCase) -> list:
    """The statistical tests of a representative fill: the whole distribution
    (KS, chi-square), its first, second and fourth moments, its 0.1% tails, and
    its extremes (the support's ends for uniform fills, no value implausibly
    far out for unbounded ones)."""
    tests = [stats.ks_test, stats.chi_square_test,
             lambda x, dist, alpha: stats.mean_z_test(x, dist.mean(), dist.std(), alpha),
             lambda x, dist, alpha: stats.std_z_test(x, dist.mean(), dist.std(), stats.standardized_moments(dist)[0],
                                                     alpha),
             stats.kurtosis_z_test, stats.tail_test]
    if case.uniform_family:
        tests.append(lambda x, dist, alpha: stats.support_test(x, dist.ppf(0), dist.ppf(1), alpha))
    elif not case.bounded:
        tests.append(stats.extreme_test)
    return tests


def distribution_task(case: FillCase) -> Task:
    def run(ctx: Context) -> list[Check]:
        x, first = draw_pooled(ctx.backend.get(case.fill), case, ctx.budget.fill_samples, ctx.seed)
        want = expected(case, ctx)
        checks = []
        if case.fill == "sparse":
            checks.append(sparsity_check(case, first))
            x = x[x != 0]
        if want.support:
            checks.append(containment_check(case.label, x, want.support, want.reference))
        results = [test(x, want.dist, ctx.alpha) for test in distribution_tests(case)]
        for result in results:
            checks.append(stat_check(f"{case.label}: {result.test}", want.reference, result, result.estimate))
        probabilities = np.linspace(0.001, 0.999, 999)
        checks[-len(results)].plot = {"kind": "distribution", "title": case.label, "dist": want.dist,
                                      "sample": x[:50_000], "n": x.size, "alpha": ctx.alpha,
                                      "probabilities": probabilities, "quantiles": np.quantile(x, probabilities),
                                      "failed": any(c.status == "FAIL" for c in checks)}
        return checks

    return Task("init", f"{case.label} distribution", (case.fill,), run, tests=case.tests)


def sparsity_check(case: FillCase, first: np.ndarray) -> Check:
    rows = case.shape[0]
    zeros_per_column = math.ceil(case.params["sparsity"] * rows)
    counts = (first.reshape(rows, -1) == 0).sum(axis=0)
    bad = int(np.sum(counts != zeros_per_column))
    return equal_check(f"{case.label}: ceil(sparsity*rows) = {zeros_per_column} zeros per column",
                       "torch.nn.init.sparse_ (Martens 2010)", bad,
                       f"zeros per column from {counts.min()} to {counts.max()}", metric="columns wrong")


def fans_task() -> Task:
    def run(ctx: Context) -> list[Check]:
        ref, fans = ctx.refs.fans(), ctx.backend.get("fans")
        checks = []
        for shape in FAN_SHAPES:
            got, want = tuple(int(v) for v in fans(shape)), tuple(int(v) for v in ref.fn(shape))
            checks.append(equal_check(f"fans{shape} = (fan_in, fan_out)", ref.label, int(got != want),
                                      f"got {got}, expected {want}"))
        try:
            fans((5,))
            raised = "nothing"
        except ValueError:
            raised = "ValueError"
        except Exception as exc:  # the wrong exception type is a failure, not a crash
            raised = type(exc).__name__
        checks.append(equal_check("fans((5,)) raises ValueError (fewer than 2 dims)", "torch.nn.init",
                                  int(raised != "ValueError"), f"raised {raised}"))
        return checks

    return Task("init", "fans", ("fans",), run)


def gains_task() -> Task:
    def run(ctx: Context) -> list[Check]:
        ref, gain = ctx.refs.gain(), ctx.backend.get("calculate_gain")
        checks = []
        for nonlinearity, param in GAINS:
            got, want = float(gain(nonlinearity, param)), float(ref.fn(nonlinearity, param))
            args = nonlinearity if param is None else f"{nonlinearity}, {param}"
            checks.append(error_check(f"calculate_gain({args})", ref.label, "rel. error", abs(got - want) / want,
                                      1e-12, f"got {got:.12g}, expected {want:.12g}"))
        return checks

    return Task("init", "calculate_gain", ("calculate_gain",), run)


def contract_task(fill: str) -> Task:
    """Shape, default float32, dtype="float64", same seed -> same bits, other seed -> other values."""
    shape, params = small_shape(fill), DEFAULT_PARAMS.get(fill, {})

    def run(ctx: Context) -> list[Check]:
        fn = ctx.backend.get(fill)
        seeded = fill in RANDOM_FILLS
        extra = {"seed": ctx.seed} if seeded else {}
        a = as_array(fn(shape, **params, **extra))
        b = as_array(fn(shape, **params, **extra))
        wide = as_array(fn(shape, **params, **extra, dtype="float64"))
        problems = []
        if a.shape != shape:
            problems.append(f"shape {a.shape}")
        if a.dtype != np.float32:
            problems.append(f"default dtype {a.dtype}")
        if wide.dtype != np.float64:
            problems.append(f"dtype='float64' gave {wide.dtype}")
        if bit_mismatches(a, b):
            problems.append("same arguments gave different values")
        if seeded and not bit_mismatches(a, as_array(fn(shape, **params, seed=ctx.seed + 1))):
            problems.append("seed+1 gave identical values")
        return [equal_check(f"{fill}{shape}: shape, dtype, reproducible by seed", "DESIGN.md API",
                            len(problems), "; ".join(problems) or "ok", metric="violations")]

    return Task("init", f"{fill} contract", (fill,), run)


def in_place_task(fill: str) -> Task:
    shape, params = small_shape(fill), DEFAULT_PARAMS.get(fill, {})

    def run(ctx: Context) -> list[Check]:
        extra = {"seed": ctx.seed} if fill in RANDOM_FILLS else {}
        target = np.full(shape, np.nan, np.float32)
        returned = ctx.backend.get(fill + "_")(target, **params, **extra)
        allocated = as_array(ctx.backend.get(fill)(shape, **params, **extra))
        bad = bit_mismatches(target, allocated) + int(returned is not target)
        return [equal_check(f"{fill}_(array) == {fill}(shape), returns the array", f"{fill}(shape)", bad,
                            "" if returned is target else "did not return its argument",
                            metric="differing elements")]

    return Task("init", f"{fill}_ in place", (fill, fill + "_"), run)


FIXED_CASES = [("constant", (30, 20, 3), {"val": 0.37}), ("zeros", (30, 20, 3), {}), ("ones", (30, 20, 3), {}),
               ("eye", (5, 7), {}), ("eye", (7, 5), {}), ("dirac", (6, 3, 3, 3), {}),
               ("dirac", (8, 2, 3, 3), {"groups": 2}), ("dirac", (4, 4, 5), {})]


def fixed_task(fill: str, shape: tuple, params: dict) -> Task:
    def run(ctx: Context) -> list[Check]:
        ref = ctx.refs.fixed_fill(fill)
        want = as_array(ref.fn(shape, **params, dtype="float32"))
        got = as_array(ctx.backend.get(fill)(shape, **params))
        return [equal_check(f"{fill}({shape}{', ' if params else ''}{params or ''})", ref.label,
                            bit_mismatches(got, want), metric="differing elements")]

    return Task("init", f"{fill}{shape}", (fill,), run)


ORTHOGONAL_CASES = [((64, 32, 3, 3), 2.0), ((300, 100), 1.0)]


def orthogonal_task(shape: tuple, gain: float) -> Task:
    """Saxe et al. (2014): rows (or columns, when taller) orthonormal, times gain."""
    name = f"orthogonal({shape}, gain={gain:g}): W W^T = gain^2 I"

    def run(ctx: Context) -> list[Check]:
        w = as_array(ctx.backend.get("orthogonal")(shape, gain=gain, seed=case_seed(ctx.seed, name)))
        flat = np.asarray(w, np.float64).reshape(shape[0], -1)
        gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        error = relative_max_error(gram / gain ** 2, np.eye(gram.shape[0]))
        return [error_check(name, "math (torch.nn.init.orthogonal_)", "max |W W^T/gain^2 - I|", error, 1e-5,
                            f"{w.dtype}")]

    return Task("init", name, ("orthogonal",), run)


@register("init", "fans, gains and fills vs torch.nn.init; distribution tests")
def plan(budget: Budget, seed: int) -> list[Task]:
    tasks = [fans_task(), gains_task()]
    tasks += [distribution_task(c) for c in FILL_CASES if c.level <= budget.level]
    tasks += plan_scales(budget)
    tasks += [fixed_task(*case) for case in FIXED_CASES]
    tasks += [orthogonal_task(*case) for case in ORTHOGONAL_CASES]
    tasks += [contract_task(fill) for fill in RANDOM_FILLS + FIXED_FILLS]
    tasks += [in_place_task(fill) for fill in RANDOM_FILLS + FIXED_FILLS]
    return tasks
