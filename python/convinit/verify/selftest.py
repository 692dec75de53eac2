"""``convinit verify --self-test``: the harness must pass a correct backend and
catch every broken implementation in the mutant catalog.

The correct backend is ``--backend`` (convinit by default), with anything it
lacks borrowed from the NumPy reference. Each mutant is run on the checks
that call a function it replaces, at the per-test alpha of the full plan, so
its detection is what a real run of that size would see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from rich.table import Table

from .backends import load_backend
from .context import BUDGETS, Context, References
from .mutants import GENERATED, Mutant, all_mutants
from .pools import single_threaded_libraries
from .records import FAIL, Check
from .runner import (Options, Plan, counts, describe_run, execute, make_console, make_plan, progress_bar,
                     results_table, run_task, summary_line)
from .terminal import Column, fitted_table, terminal_width


@dataclass
class Outcome:
    implementation: str
    bug: str
    checks: list[Check]
    expect_failure: bool

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        """A mutant must fail some check; the correct backend none (and run some)."""
        return bool(self.failures) if self.expect_failure else bool(self.checks) and not self.failures

    @property
    def verdict(self) -> str:
        if self.expect_failure:
            return "CAUGHT" if self.ok else "MISSED"
        return "PASS" if self.ok else "FAIL"


def mutant_tasks(plan: Plan, replaced: set[str]) -> list:
    return [t for t in plan.tasks if replaced.intersection(t.calls())]


def hinted_first(tasks: list, hint: tuple[str, ...]) -> list:
    """Tasks whose names contain every substring of ``hint`` first (stable otherwise)."""
    return sorted(tasks, key=lambda t: not all(h in t.name for h in hint)) if hint else tasks


def run_mutant(mutant: Mutant, plan: Plan, ctx: Context, progress=None, stop_at_failure: bool = True) -> Outcome:
    """The mutant on every check that calls a function it replaces; by default
    it stops at the first failing check (it is caught, the rest cannot uncatch it)."""
    overrides = mutant.build(ctx.backend)
    broken = ctx.backend.replaced(f"mutant: {mutant.name}", overrides)
    tasks = hinted_first(mutant_tasks(plan, set(overrides)), mutant.hint)
    mutant_ctx = Context(broken, ctx.budget, ctx.seed, plan.alpha, ctx.refs)
    if not stop_at_failure:
        return Outcome(mutant.name, mutant.bug, execute(tasks, mutant_ctx, progress, f"{mutant.name}: "), True)
    checks: list[Check] = []
    for task in tasks:
        checks += run_task(task, mutant_ctx)
        if any(c.status == FAIL for c in checks):
            break
    return Outcome(mutant.name, mutant.bug, checks, True)


OUTCOME_COLUMNS = (Column("implementation", minimum=24, priority=2, keep=True), Column("bug", 16, 0),
                   Column("checks run", justify="right"), Column("failed", justify="right"),
                   Column("caught by (first failures)", 16, 1), Column("result"))


def outcome_table(outcomes: list[Outcome], width: Optional[int] = None) -> Table:
    """One line per implementation, fitted to ``width`` (the terminal's by default)."""
    rows = [(o.implementation, o.bug, str(len(o.checks)), str(len(o.failures)),
             "; ".join(c.name for c in o.failures[:3]) + (" ..." if len(o.failures) > 3 else ""), o.verdict)
            for o in outcomes]
    return fitted_table(OUTCOME_COLUMNS, rows, width or terminal_width(),
                        ["green" if o.ok else "bold red" for o in outcomes], "self-test")


def run(options: Options) -> int:
    budget = BUDGETS[options.mode]
    base = load_backend(options.backend)
    if base.name != "numpy":
        base = base.completed_by(load_backend("numpy"))
    plan = make_plan(base, options.suites, budget, options.seed)
    out, err = make_console(), make_console(stderr=True)
    describe_run(out, base, plan, budget, options.seed)
    ctx = Context(base, budget, options.seed, plan.alpha, References(base.name))
    # With suites named, mutants none of their checks call are left out; otherwise each must be caught.
    applicable = [m for m in all_mutants() if not options.suites or mutant_tasks(plan, set(m.build(base)))]
    start = time.perf_counter()
    with single_threaded_libraries(), progress_bar(err) as progress:
        correct = Outcome(f"correct: {base.name}", "none", execute(plan.tasks, ctx, progress, "correct: "), False)
        bar = progress.add_task("mutants", total=len(applicable))
        outcomes = [correct]
        for m in applicable:
            progress.update(bar, description=f"mutant: {m.name}")
            outcomes.append(run_mutant(m, plan, ctx))
            progress.advance(bar)
    elapsed = time.perf_counter() - start
    if correct.failures:
        out.print(results_table(correct.failures, title=f"correct backend {base.name}: FAILED checks"))
    out.print(outcome_table(outcomes))
    if options.json or options.html:
        from .report import write_html, write_json

        passed_checks, failed_checks, skipped = counts(correct.checks)
        meta = {"self_test": True, "backend": base.name, "mode": budget.name, "seed": options.seed,
                "per_test_alpha": plan.alpha, "statistical_tests": plan.tests, "seconds": round(elapsed, 3),
                "passed": passed_checks, "failed": failed_checks, "skipped": skipped,
                "outcomes": [{"implementation": o.implementation, "bug": o.bug, "checks": len(o.checks),
                              "failed": [c.name for c in o.failures], "verdict": o.verdict} for o in outcomes]}
        if options.json:
            out.print(f"wrote {write_json(options.json, meta, correct.checks)}")
        if options.html:
            out.print(f"wrote {write_html(options.html, meta, correct.checks)}")
    generated = sum(m in GENERATED for m in applicable)
    out.print(f"{len(applicable)} broken implementations ({len(applicable) - generated} hand-written, {generated} "
              f"generated: one per (initializer, nonlinearity) gain, rank, mode and conv parameter), "
              f"{sum(o.ok for o in outcomes[1:])} caught (each run until its first failing check); {elapsed:.1f} s")
    out.file.flush()
    passed = sum(o.ok for o in outcomes)
    print(summary_line(passed, len(outcomes) - passed), flush=True)
    return 0 if passed == len(outcomes) else 1
