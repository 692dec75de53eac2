"""Planning and running checks: progress bar, results table, the summary line
``N passed, M failed`` and the exit status (0 all pass, 1 any failure)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .backends import Backend, load_backend
from .context import BUDGETS, Budget, Context, References
from .pools import single_threaded_libraries
from .records import FAIL, PASS, SKIP, Check, Task, failed_run, skip_check
from .stats import FAMILY_ALPHA, bonferroni_alpha
from .suites import suites
from .terminal import Column, fitted_table, make_console, terminal_width


class UsageError(ValueError):
    """Bad command-line input (exit status 2)."""


@dataclass
class Plan:
    suites: list[str]
    tasks: list[Task]                 # the backend has everything these need
    skipped: list[Task]               # it lacks something
    tests: int = 0                    # statistical tests among ``tasks``
    alpha: float = FAMILY_ALPHA

    def __post_init__(self) -> None:
        self.tests = sum(t.tests for t in self.tasks)
        self.alpha = bonferroni_alpha(self.tests)


def make_plan(backend: Backend, names: Sequence[str], budget: Budget, seed: int, select: Optional[str] = None) -> Plan:
    """The named suites (or every default suite the backend has functions for);
    with ``select``, only the tasks whose name contains it."""
    registry = suites()
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UsageError(f"unknown suite {unknown[0]!r} (choose from {', '.join(registry)})")
    chosen = list(dict.fromkeys(names)) or [n for n, s in registry.items() if s.default]
    tasks, skipped, used = [], [], []
    for name in chosen:
        planned = [t for t in registry[name].plan(budget, seed) if not select or select in t.name]
        runnable = [t for t in planned if t.runnable(backend.functions)]
        if runnable or names:
            used.append(name)
            tasks += runnable
            skipped += [t for t in planned if not t.runnable(backend.functions)]
    if not tasks:
        raise UsageError(f"backend {backend.name!r} has none of the functions suite(s) {', '.join(chosen)} check "
                         f"(it has: {', '.join(backend.found) or 'nothing'})")
    return Plan(used, tasks, skipped)


def run_task(task: Task, ctx: Context) -> list[Check]:
    """The task's checks; a backend raising on valid input fails the task."""
    start = time.perf_counter()
    try:
        checks = task.run(ctx)
    except Exception as exc:  # noqa: BLE001 - any error of the code under test is a finding
        checks = [failed_run(task.name, exc)]
    elapsed = time.perf_counter() - start
    for check in checks:
        check.suite = task.suite
        check.task = task.name
        check.seconds = elapsed / len(checks)
    return checks


def skipped_checks(plan: Plan, backend: Backend) -> list[Check]:
    checks = []
    for task in plan.skipped:
        lacking = [n for n in task.needs if not backend.has(n)] or [" and ".join(task.any_of)]
        check = skip_check(task.name, "backend lacks " + ", ".join(lacking))
        check.suite = task.suite
        checks.append(check)
    return checks


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description:<40.40}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def execute(tasks: Sequence[Task], ctx: Context, progress: Optional[Progress] = None,
            label: str = "") -> list[Check]:
    bar = progress.add_task(label, total=len(tasks)) if progress else None
    checks = []
    for task in tasks:
        if progress:
            progress.update(bar, description=f"{label}{task.name}")
        checks += run_task(task, ctx)
        if progress:
            progress.advance(bar)
    if progress:
        progress.remove_task(bar)
    return checks


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    if float(value).is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3g}"


STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow"}
# Shortened (and at last left out) in this order when the terminal is narrow; the check's name never goes.
RESULT_COLUMNS = (Column("check", minimum=40, priority=3, keep=True), Column("reference", 16, 1),
                  Column("metric", 10, 2), Column("value", justify="right"), Column("tolerance", justify="right"),
                  Column("detects", 16, 0), Column("result"))


def results_table(checks: Sequence[Check], title: str = "", width: Optional[int] = None) -> Table:
    """One line per check, fitted to ``width`` (the terminal's by default)."""
    rows = [(c.name, c.reference, c.metric, _number(c.value),
             f"{c.comparison} {_number(c.tolerance)}" if c.comparison else "-",
             c.detectable.replace("detects ", "", 1), c.status) for c in checks]
    return fitted_table(RESULT_COLUMNS, rows, width or terminal_width(), [STYLE[c.status] for c in checks], title)


def suite_tables(checks: Sequence[Check], width: Optional[int] = None) -> list[Table]:
    """One table per suite, in run order."""
    by_suite: dict[str, list[Check]] = {}
    for check in checks:
        by_suite.setdefault(check.suite, []).append(check)
    return [results_table(group, f"suite {suite}", width) for suite, group in by_suite.items()]


def counts(checks: Sequence[Check]) -> tuple[int, int, int]:
    statuses = [c.status for c in checks]
    return statuses.count(PASS), statuses.count(FAIL), statuses.count(SKIP)


def summary_line(passed: int, failed: int) -> str:
    return f"{passed} passed, {failed} failed"


@dataclass
class Options:
    backend: str = "convinit"
    suites: list[str] = field(default_factory=list)
    mode: str = "standard"
    seed: int = 0
    json: Optional[str] = None
    html: Optional[str] = None
    verbose: bool = False
    select: Optional[str] = None


def describe_run(console: Console, backend: Backend, plan: Plan, budget: Budget, seed: int) -> None:
    console.print(f"[bold]convinit verify[/]: backend {backend.description}; suites {', '.join(plan.suites)}; "
                  f"{budget.name} run, seed {seed}")
    console.print(f"functions found: {', '.join(backend.found)}")
    if plan.skipped:
        lacking = sorted({n for t in plan.skipped for n in t.calls() if not backend.has(n)})
        console.print(f"skipping {len(plan.skipped)} checks of functions the backend lacks: {', '.join(lacking)}")
    console.print(f"{plan.tests} statistical tests; family-wise false-alarm rate <= {FAMILY_ALPHA:g} "
                  f"(Bonferroni): per-test alpha = {plan.alpha:.3g}")


def suite_lines(checks: Sequence[Check], seconds: dict[str, float]) -> list[str]:
    """One line per suite: its counts and time (as cargo test / pytest do)."""
    by_suite: dict[str, list[Check]] = {}
    for check in checks:
        by_suite.setdefault(check.suite, []).append(check)
    lines = []
    for suite, group in by_suite.items():
        passed, failed, skipped = counts(group)
        verdict = "[bold red]FAILED[/]" if failed else "[green]ok[/]"
        lines.append(f"suite {suite:<9} {verdict}  {passed} passed, {failed} failed"
                     f"{f', {skipped} skipped' if skipped else ''}  ({seconds.get(suite, 0.0):.1f} s)")
    return lines


def rerun_command(options: Options, check_name: str) -> str:
    """The command that reruns one check (``-k`` with the check's task name)."""
    parts = ["convinit verify"]
    if options.backend != "convinit":
        parts.append(f"--backend {options.backend}")
    if options.mode != "standard":
        parts.append(f"--{options.mode}")
    if options.seed:
        parts.append(f"--seed {options.seed}")
    return " ".join(parts + [f"-k '{check_name}'"])


def run(options: Options) -> int:
    """``convinit verify``: plan, run with a progress bar, a line per suite (every
    row with ``-v``), failures in full, reports, summary line."""
    backend = load_backend(options.backend)
    budget = BUDGETS[options.mode]
    plan = make_plan(backend, options.suites, budget, options.seed, options.select)
    out, err = make_console(), make_console(stderr=True)
    describe_run(out, backend, plan, budget, options.seed)
    ctx = Context(backend, budget, options.seed, plan.alpha, References(backend.name), options.backend)
    start = time.perf_counter()
    with single_threaded_libraries(), progress_bar(err) as progress:
        checks = execute(plan.tasks, ctx, progress)
    elapsed = time.perf_counter() - start
    if options.verbose:
        for table in suite_tables(checks):
            out.print(table)
    else:
        seconds: dict[str, float] = {}
        for check in checks:
            seconds[check.suite] = seconds.get(check.suite, 0.0) + check.seconds
        for line in suite_lines(checks, seconds):
            out.print(line)
    skipped = skipped_checks(plan, backend) + [c for c in checks if c.status == SKIP]
    passed, failed, _ = counts(checks)
    meta = {"backend": backend.name, "backend_description": backend.description, "functions_found": backend.found,
            "functions_missing": backend.missing, "suites": plan.suites, "mode": budget.name, "seed": options.seed,
            "family_alpha": FAMILY_ALPHA, "per_test_alpha": plan.alpha, "statistical_tests": plan.tests,
            "seconds": round(elapsed, 3), "passed": passed, "failed": failed, "skipped": len(skipped)}
    if options.json or options.html:
        from .report import write_html, write_json

        all_checks = checks + skipped_checks(plan, backend)
        if options.json:
            out.print(f"wrote {write_json(options.json, meta, all_checks)}")
        if options.html:
            out.print(f"wrote {write_html(options.html, meta, all_checks)}")
    if skipped:
        out.print(f"{len(skipped)} skipped (see --json for each); {elapsed:.1f} s")
    failures = [c for c in checks if c.status == FAIL]
    if failures:
        out.print(results_table(failures, title="FAILED"))
        tasks = list(dict.fromkeys(c.task for c in failures))
        out.print("rerun one: " + escape(rerun_command(options, tasks[0])) +
                  (f"  ({len(tasks)} failing tasks; -v prints every row)" if len(tasks) > 1 else ""),
                  soft_wrap=True)   # one line however long: it is copied and pasted
    out.file.flush()
    print(summary_line(passed, failed), flush=True)
    return 1 if failed else 0
