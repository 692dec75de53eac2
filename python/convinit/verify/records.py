"""What a check reports, and the planned unit of work that produces checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .stats import StatResult

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class Check:
    """One verdict: ``value`` compared with ``tolerance`` (``<=`` for errors,
    ``>=`` for p-values against the per-test alpha)."""

    name: str
    reference: str
    metric: str
    value: float
    tolerance: float
    status: str
    comparison: str = "<="
    detail: str = ""
    suite: str = ""
    task: str = ""                 # the planned task that made it (``convinit verify -k`` selects by it)
    statistical: bool = False
    test: str = ""
    n: int = 0
    detectable: str = ""
    detectable_effect: Optional[float] = None
    seconds: float = 0.0
    plot: Optional[dict] = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict (no plot data, non-finite numbers as null)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "plot"}
        out["passed"] = self.passed
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def error_check(name: str, reference: str, metric: str, value: float, tolerance: float, detail: str = "",
                **extra: Any) -> Check:
    """PASS when ``value <= tolerance`` (NaN fails)."""
    value = float(value)
    status = PASS if value <= tolerance else FAIL
    return Check(name, reference, metric, value, float(tolerance), status, "<=", detail, **extra)


def equal_check(name: str, reference: str, mismatches: int, detail: str = "", metric: str = "mismatches") -> Check:
    """PASS when nothing differs from the reference (exact comparisons)."""
    return error_check(name, reference, metric, mismatches, 0, detail)


def stat_check(name: str, reference: str, result: "StatResult", detail: str = "", **extra: Any) -> Check:
    """PASS when the p-value is at least the per-test alpha."""
    status = PASS if result.p_value >= result.alpha else FAIL
    text = f"{result.test}, n={result.n}, statistic {result.statistic:.4g}"
    return Check(name, reference, "p-value", float(result.p_value), result.alpha, status, ">=",
                 f"{text}; {detail}" if detail else text, statistical=True, test=result.test, n=result.n,
                 detectable=result.detectable, detectable_effect=result.effect, **extra)


def skip_check(name: str, reason: str) -> Check:
    return Check(name, "-", "-", math.nan, math.nan, SKIP, "", reason)


def failed_run(name: str, error: BaseException) -> Check:
    """A check whose code under test raised on valid input."""
    return Check(name, "-", "raised", math.nan, math.nan, FAIL, "", f"{type(error).__name__}: {error}")


@dataclass
class Task:
    """A planned unit of work: runs ``run(ctx)`` if the backend has every
    function in ``needs`` and, when ``any_of`` is given, at least one of those;
    ``tests`` is how many statistical tests it makes (the Bonferroni
    denominator is known before anything runs)."""

    suite: str
    name: str
    needs: tuple[str, ...]
    run: Callable[["Context"], list[Check]]
    tests: int = 0
    any_of: tuple[str, ...] = ()

    def runnable(self, functions: Iterable[str]) -> bool:
        have = set(functions)
        return have.issuperset(self.needs) and (not self.any_of or bool(have.intersection(self.any_of)))

    def calls(self) -> set[str]:
        return set(self.needs) | set(self.any_of)
