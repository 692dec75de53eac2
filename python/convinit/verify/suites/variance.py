"""variance: text 000's experiment with the backend's fills, checking the
theory of He et al. (2015): with N(0, 2/fan_in) weights and ReLU, E[a^2] of
the last layer ~ E[x^2] of the input and Var(y) ~ 2 E[a^2]; with fan_out the
backward gradient variance stays level (text 004); tanh keeps a spread at
its fixed point while sigmoid collapses to a constant."""

from __future__ import annotations

from ...experiments import variance
from ..context import Budget, Context
from ..records import Check, Task, error_check
from . import register

# Trials (dense) and images (CNN) per budget level.
TRIALS = {0: 50_000, 1: 100_000, 2: 200_000}
IMAGES = {0: 1_024, 1: 4_096, 2: 4_096}
SOURCE = "He et al. 2015 (eqs. 10, 14); text 000"


def _fills(ctx: Context) -> variance.Fills:
    return variance.adapt_fills(ctx.backend.get("normal"), ctx.backend.get("uniform"))


def _claim_checks(name: str, result: dict) -> list[Check]:
    """One check per verdict: |ratio - 1| against the claim's half-width, or
    a one-sided bound for the spread and the gradient level."""
    checks = []
    for verdict in result["verdicts"]:
        low, high = verdict["range"]
        ratio = verdict["ratio"]
        if high == 1.0:  # Var(a)/E[a^2] >= low
            check = error_check(f"{name}: {verdict['claim']}", SOURCE, "1 - Var(a)/E[a^2]", 1 - ratio, 1 - low)
        elif low == 1.0:  # max/min gradient variance <= high
            check = error_check(f"{name}: {verdict['claim']}", SOURCE, "max/min Var(grad)", ratio, high)
        else:
            check = error_check(f"{name}: {verdict['claim']}", SOURCE, "|ratio - 1|", abs(ratio - 1), high - 1,
                                detail=f"ratio {ratio:.4f}")
        checks.append(check)
    if checks:
        checks[0].plot = {"kind": "variance-curve", "title": name, "result": result}
    return checks


def dense_task(label: str, claims: tuple[str, ...], **config) -> Task:
    def run(ctx: Context) -> list[Check]:
        cfg = variance.Config(trials=TRIALS[ctx.budget.level], seed=ctx.seed, **config)
        result = variance.run_dense(cfg, _fills(ctx))
        result["verdicts"] = [v for v in result["verdicts"] if v["claim"].startswith(claims)]
        return _claim_checks(label, result)

    return Task("variance", label, ("normal", "uniform"), run)


def cnn_task() -> Task:
    def run(ctx: Context) -> list[Check]:
        cfg = variance.Config(trials=IMAGES[ctx.budget.level], seed=ctx.seed)
        result = variance.run_cnn(cfg, _fills(ctx), ctx.backend.get("conv2d"))
        return _claim_checks("10-layer CNN (conv2d), ReLU, He fan_in", result)

    return Task("variance", "CNN", ("normal", "uniform", "conv2d"), run)


EXPECTED_SPREAD = "last-layer activations keep their spread"


def sigmoid_task() -> Task:
    """The texts' negative result: He init does not suit sigmoid, whose units
    settle near a constant 0.5 (little variance left to carry a signal)."""
    def run(ctx: Context) -> list[Check]:
        cfg = variance.Config(trials=TRIALS[ctx.budget.level], seed=ctx.seed, activation="sigmoid")
        last = variance.run_dense(cfg, _fills(ctx))["layers"][-1]
        spread = last["Var_a"] / last["E_a2"]
        return [error_check("10 dense layers, sigmoid, He fan_in: activations collapse towards a constant",
                            "texts 000/004: He init does not work for sigmoid", "Var(a)/E[a^2]", spread, 0.5,
                            detail=f"E[a^2] {last['E_a2']:.4f}, Var(a) {last['Var_a']:.4f}")]

    return Task("variance", "sigmoid", ("normal", "uniform"), run)


@register("variance", "variance propagation through deep nets (text 000, He et al. 2015)")
def plan(budget: Budget, seed: int) -> list[Task]:
    return [
        dense_task("10 dense layers 5<->10, ReLU, He fan_in", ("E[a^2]", "Var(y)", EXPECTED_SPREAD)),
        dense_task("10 dense layers, ReLU, He fan_out, backward", ("gradient",), mode="fan_out", backward=True),
        dense_task("10 dense layers, tanh, He fan_in", (EXPECTED_SPREAD,), activation="tanh"),
        sigmoid_task(),
        cnn_task(),
    ]
