"""The harness's checks as pytest tests: one test per planned task, with a
stable readable id (``init/kaiming_uniform[(48,96)-fan_in-tanh-float32]::scale``),
the harness's rows as the failure message, and the Bonferroni correction over
the statistical tests actually selected.

Used by the ``pytest11`` plugin (``convinit.pytest_plugin``) and by
``convinit.testing.parametrize_with_checks`` / ``checks``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

from .backends import Backend, BackendError, collect, load_backend
from .context import BUDGETS, Context, References
from .records import FAIL, SKIP, Check, Task
from .runner import UsageError, run_task
from .stats import FAMILY_ALPHA, bonferroni_alpha
from .suites import suites as registered_suites


def resolve_backend(backend: Any) -> tuple[Backend, Optional[str]]:
    """A Backend and the spec a child process can load it by (None when it
    was given as an object)."""
    if isinstance(backend, Backend):
        return backend, None
    if isinstance(backend, str):
        return load_backend(backend), backend
    name = getattr(backend, "__name__", type(backend).__name__)
    found = collect(name, [backend, getattr(backend, "init", None)], name)
    if not found.functions:
        raise BackendError(f"backend {name!r} has none of convinit's public functions")
    return found, None


def check_id(task: Task) -> str:
    """``suite/name`` with whitespace runs as '-' and the first ' scale'/' distribution'
    style suffix as '::suffix' (ids survive shells, -k and --lf)."""
    name = task.name
    if name.endswith((" scale", " distribution")):
        head, _, tail = name.rpartition(" ")
        name = f"{head}::{tail}"
    return f"{task.suite}/" + re.sub(r"\s+", "-", re.sub(r",\s+", ",", name.strip()))


@dataclass
class RunState:
    """What every check of one run shares: the backend, budget, seed and
    per-test alpha (set once the selected checks are known)."""

    backend: Backend
    mode: str = "standard"
    seed: int = 0
    spec: Optional[str] = None
    statistical_tests: int = 0
    _context: Optional[Context] = field(default=None, repr=False)

    @property
    def alpha(self) -> float:
        return bonferroni_alpha(self.statistical_tests)

    def select(self, chosen: Sequence["ConformanceCheck"]) -> None:
        """Bonferroni over the statistical tests of the checks that will run."""
        self.statistical_tests = sum(c.task.tests for c in chosen if c.skip_reason is None)
        self._context = None

    def context(self) -> Context:
        if self._context is None:
            self._context = Context(self.backend, BUDGETS[self.mode], self.seed, self.alpha,
                                    References(self.backend.name), self.spec)
        return self._context

    def describe(self) -> str:
        return (f"convinit conformance: backend {self.backend.description}; {self.mode} run, seed {self.seed}; "
                f"{self.statistical_tests} statistical tests selected, family-wise false-alarm rate <= "
                f"{FAMILY_ALPHA:g} (Bonferroni): per-test alpha = {self.alpha:.3g}")


class CheckFailed(AssertionError):
    """A harness check failed; the message is its rows."""

    def __init__(self, rows: str, checks: list[Check]):
        super().__init__(rows)
        self.checks = checks


def format_row(check: Check) -> str:
    tolerance = f"{check.comparison} {check.tolerance:.4g}" if check.comparison else "-"
    value = "-" if check.value is None or (isinstance(check.value, float) and math.isnan(check.value)) \
        else f"{check.value:.4g}"
    lines = [f"{check.status} {check.name}",
             f"    reference: {check.reference}",
             f"    metric:    {check.metric} = {value} (tolerance {tolerance})"]
    if check.detectable:
        lines.append(f"    smallest detectable effect: {check.detectable.replace('detects ', '', 1)}")
    if check.detail:
        lines.append(f"    detail: {check.detail}")
    return "\n".join(lines)


def check_properties(checks: Sequence[Check]) -> list[tuple[str, str]]:
    """(name, value) pairs for junitxml: each check's row."""
    out = []
    for i, c in enumerate(checks):
        for key in ("name", "status", "reference", "metric", "value", "tolerance", "comparison", "detectable",
                    "detail"):
            out.append((f"check{i}.{key}", str(getattr(c, key))))
    return out


@dataclass
class ConformanceCheck:
    """One harness task as a test: ``check()`` runs it and raises CheckFailed
    with the rows of its failing checks (or skips when the backend lacks it)."""

    task: Task
    state: RunState
    skip_reason: Optional[str] = None
    checks: list[Check] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str:
        return check_id(self.task)

    def __str__(self) -> str:
        return self.id

    def run(self) -> list[Check]:
        self.checks = run_task(self.task, self.state.context())
        return self.checks

    def __call__(self) -> list[Check]:
        import pytest

        if self.skip_reason:
            pytest.skip(self.skip_reason)
        checks = self.run()
        failures = [c for c in checks if c.status == FAIL]
        if failures:
            raise CheckFailed("\n".join(format_row(c) for c in failures), checks)
        if checks and all(c.status == SKIP for c in checks):
            pytest.skip("; ".join(c.detail for c in checks))
        return checks


def lacking(task: Task, backend: Backend) -> Optional[str]:
    """Why the backend cannot run ``task`` (None when it can)."""
    if task.runnable(backend.functions):
        return None
    missing = [n for n in task.needs if not backend.has(n)] or [" or ".join(task.any_of)]
    return "backend lacks " + ", ".join(missing)


def plan_checks(state: RunState, suites: Sequence[str] = ()) -> list[ConformanceCheck]:
    """Every task of the named suites (default: every default suite) in plan
    order, the ones the backend cannot run carrying a skip reason."""
    registry = registered_suites()
    unknown = [n for n in suites if n not in registry]
    if unknown:
        raise UsageError(f"unknown suite {unknown[0]!r} (choose from {', '.join(registry)})")
    names = list(dict.fromkeys(suites)) or [n for n, s in registry.items() if s.default]
    out = [ConformanceCheck(task, state, lacking(task, state.backend))
           for name in names for task in registry[name].plan(BUDGETS[state.mode], state.seed)]
    seen: dict[str, int] = {}
    for check in out:   # ids must be unique: a repeated name gets '#2', '#3', ...
        seen[check.id] = seen.get(check.id, 0) + 1
        if seen[check.id] > 1:
            check.task = Task(check.task.suite, f"{check.task.name}#{seen[check.id]}", check.task.needs,
                              check.task.run, check.task.tests, check.task.any_of)
    return out


def iter_checks(backend: Any, suites: Sequence[str] = (), quick: bool = True, seed: int = 0,
                mode: Optional[str] = None) -> Iterator[ConformanceCheck]:
    resolved, spec = resolve_backend(backend)
    state = RunState(resolved, mode or ("quick" if quick else "standard"), seed, spec)
    planned = plan_checks(state, suites)
    state.select(planned)
    return iter(planned)
