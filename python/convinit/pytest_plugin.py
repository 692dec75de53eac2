"""pytest plugin (``pytest11`` entry point ``convinit``): convinit's
conformance checks inside your own pytest run.

Inactive (it adds nothing, imports nothing heavy) unless a backend is named
with ``--convinit-backend NAME|module:attr`` or ``CONVINIT_BACKEND``. Then
every harness check is one test, ``convinit/<suite>/<check>``, selectable
with ``-k``, ``--lf``, ``-x`` and ``-n``; statistical tests share a
family-wise false-alarm rate of 1e-6 over the ones selected (Bonferroni).

    pytest --convinit-backend mykernels:Mine --convinit-quick
    pytest --convinit-backend mykernels:Mine --convinit-suite init -k "kaiming and tanh"
"""

from __future__ import annotations

import os
from typing import Any, Optional

import pytest

ENV_BACKEND = "CONVINIT_BACKEND"
SUITES = ("conv", "init", "rng", "variance", "params")


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("convinit", "convinit conformance checks")
    group.addoption("--convinit-backend", metavar="NAME|module:attr", default=None,
                    help=f"run convinit's conformance checks on this backend (or set ${ENV_BACKEND})")
    group.addoption("--convinit-suite", action="append", default=[], choices=SUITES, metavar="SUITE",
                    help=f"a suite to run (repeatable; default: all of {', '.join(SUITES)})")
    group.addoption("--convinit-quick", action="store_true", help="quick-sized checks (as convinit verify --quick)")
    group.addoption("--convinit-full", action="store_true", help="full-sized checks (as convinit verify --full)")
    group.addoption("--convinit-check", action="append", default=[], metavar="ID",
                    help="run only this check (repeatable; the id after 'convinit/')")
    group.addoption("--convinit-seed", type=int, default=0, metavar="N", help="seed of the test data (default 0)")
    group.addoption("--convinit-xfails", metavar="PATH", default=None,
                    help="file of expected failures: one check id per line, '# reason' after it")
    group.addoption("--convinit-strict", action="store_true",
                    help="an expected failure that passes (XPASS) fails the run")


def backend_spec(config: Any) -> Optional[str]:
    return config.getoption("convinit_backend") or os.environ.get(ENV_BACKEND) or None


def pytest_configure(config: Any) -> None:
    if backend_spec(config) is None:
        return
    if config.getoption("convinit_quick") and config.getoption("convinit_full"):
        raise pytest.UsageError("--convinit-quick and --convinit-full exclude each other")
    config.addinivalue_line("markers", "convinit: a convinit conformance check")
    config.pluginmanager.register(ConformancePlugin(config), "convinit-conformance")


def read_xfails(path: str) -> dict[str, str]:
    """``check id  # reason`` per line; blank lines and lines starting with '#' ignored."""
    out = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            check, _, reason = line.partition("#")
            if check.strip():
                out[check.strip()] = reason.strip() or "expected failure"
    return out


class ConvinitItem(pytest.Item):
    """One harness check."""

    def __init__(self, *, check: Any, rerun: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check
        self.rerun = rerun
        self.add_marker("convinit")
        self.extra_keyword_matches.add(check.task.suite)

    def runtest(self) -> None:
        from convinit.verify.conformance import check_properties

        try:
            self.check()
        finally:
            self.user_properties.extend(check_properties(self.check.checks))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        from convinit.verify.conformance import CheckFailed

        if isinstance(excinfo.value, CheckFailed):
            return f"{excinfo.value}\nrerun: {self.rerun} --convinit-check '{self.check.id}'"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, Optional[int], str]:
        return self.path, None, self.nodeid


class ConvinitCollector(pytest.Collector):
    def collect(self) -> list:
        return []


class ConformancePlugin:
    def __init__(self, config: Any):
        from convinit.verify.conformance import RunState, resolve_backend

        spec = backend_spec(config)
        try:
            backend, _ = resolve_backend(spec)
        except ValueError as exc:
            raise pytest.UsageError(f"--convinit-backend: {exc}") from None
        mode = "quick" if config.getoption("convinit_quick") else "full" if config.getoption(
            "convinit_full") else "standard"
        self.state = RunState(backend, mode, config.getoption("convinit_seed"), spec)
        self.only = set(config.getoption("convinit_check"))
        size = "" if mode == "standard" else f" --convinit-{mode}"
        seed = f" --convinit-seed {self.state.seed}" if self.state.seed else ""
        self.rerun = f"pytest --convinit-backend {spec}{size}{seed}"
        path = config.getoption("convinit_xfails")
        self.xfails = read_xfails(path) if path else {}
        self.strict = config.getoption("convinit_strict")
        self.suites = config.getoption("convinit_suite")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list) -> None:
        """Adds the checks before -k/-m deselection and --lf see the items."""
        from convinit.verify.conformance import plan_checks

        parent = ConvinitCollector.from_parent(session, name="convinit", nodeid="convinit")
        added: list[Any] = []
        for check in plan_checks(self.state, self.suites):
            if self.only and check.id not in self.only:
                continue
            item = ConvinitItem.from_parent(parent, name=check.id, nodeid=f"convinit/{check.id}", check=check,
                                            rerun=self.rerun)
            reason = self.xfails.get(item.nodeid) or self.xfails.get(check.id)
            if reason:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=self.strict, raises=AssertionError))
            added.append(item)
        items.extend(added)
        # counted in "collected N items" like collected tests
        config.hook.pytest_collectreport(report=pytest.CollectReport(parent.nodeid, "passed", None, added))

    def pytest_collection_finish(self, session: Any) -> None:
        """The Bonferroni denominator: the statistical tests of the checks selected."""
        self.state.select([i.check for i in session.items if isinstance(i, ConvinitItem)])
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(self.state.describe())

    def pytest_report_header(self, config: Any) -> str:
        return f"convinit: checking backend {backend_spec(config)}"
