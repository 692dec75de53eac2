"""The pytest plugin (``pytest11`` entry point) and ``convinit.testing``, run
with pytester on a correct backend module and on broken ones, as a user's
project would."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

# pytester's in-process runs drop modules first imported inside them; extension
# modules (numpy.fft, torch) cannot be loaded twice, so import what checks use here.
import scipy.optimize  # noqa: F401
import scipy.signal  # noqa: F401
import convinit.verify.conformance  # noqa: F401
import convinit.verify.torch_adapter  # noqa: F401
from convinit.verify.suites import suites

suites()
pytest_plugins = ["pytester"]

CORRECT = """
import sys
from convinit import conv1d, conv2d
from convinit.init import calculate_gain, kaiming_normal, kaiming_uniform
backend = sys.modules[__name__]
"""

# kaiming_uniform with tanh draws with the linear gain; everything else correct
WRONG_TANH_GAIN = """
import sys
import convinit.init as _init
from convinit import conv2d
from convinit.init import calculate_gain, kaiming_normal

def kaiming_uniform(shape, a=0, mode="fan_in", nonlinearity="leaky_relu", **kw):
    return _init.kaiming_uniform(shape, a, mode, "linear" if nonlinearity == "tanh" else nonlinearity, **kw)

backend = sys.modules[__name__]
"""

# conv2d ignores dilation on the last axis
WRONG_DILATION = """
import sys
from convinit import conv2d as _conv2d

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", *, threads=None):
    d = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation) * (2 // len(tuple(dilation)))
    return _conv2d(input, weight, bias, stride, padding, (d[0], 1), groups, padding_mode, threads=threads)

backend = sys.modules[__name__]
"""

QUICK_INIT = ["--convinit-quick", "--convinit-suite", "init", "-p", "no:cacheprovider"]


def selected_alpha(result) -> tuple[int, float]:
    line = next(text for text in result.outlines if text.startswith("convinit conformance:"))
    tests = int(re.search(r"(\d+) statistical tests selected", line).group(1))
    return tests, float(re.search(r"per-test alpha = ([0-9.e+-]+)", line).group(1))


def test_inactive_without_a_backend(pytester, monkeypatch):
    monkeypatch.delenv("CONVINIT_BACKEND", raising=False)
    pytester.makepyfile(test_user="def test_one():\n    assert True\n")
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1)
    assert "convinit" not in result.stdout.str()


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, convinit.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'scipy', 'rich', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_as_pytest11_entry_point():
    from importlib.metadata import entry_points

    assert any(e.value == "convinit.pytest_plugin" for e in entry_points(group="pytest11"))


def test_correct_backend_passes_and_bonferroni_counts_the_selection(pytester):
    pytester.makepyfile(mykernels=CORRECT)
    pytester.syspathinsert()
    narrow = pytester.runpytest("--convinit-backend", "mykernels:backend", *QUICK_INIT, "-k", "kaiming_normal and tanh")
    narrow.assert_outcomes(passed=17)
    # 16 scale tests and the 7 tests of one representative distribution check
    assert selected_alpha(narrow) == (23, pytest.approx(1e-6 / 23, rel=1e-2))
    wide = pytester.runpytest("--convinit-backend", "mykernels:backend", *QUICK_INIT, "-k", "kaiming_normal")
    tests, alpha = selected_alpha(wide)
    assert tests > 200 and alpha == pytest.approx(1e-6 / tests, rel=1e-2)
    assert wide.ret == 0


def test_wrong_gain_fails_with_the_harness_row_and_junit_properties(pytester):
    pytester.makepyfile(mykernels=WRONG_TANH_GAIN)
    pytester.syspathinsert()
    xml = pytester.path / "report.xml"
    result = pytester.runpytest("--convinit-backend", "mykernels:backend", *QUICK_INIT, "-k", "kaiming and 48",
                                f"--junitxml={xml}")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 4 and outcomes["passed"] > 50
    out = result.stdout.str()
    assert "convinit/init/kaiming_uniform[(48,96)-fan_in-tanh-float32]::scale" in out
    assert "reference: U(+-0.294628) from torch.nn.init.kaiming_uniform_" in out
    assert "smallest detectable effect" in out
    assert "rerun: pytest --convinit-backend mykernels:backend --convinit-quick --convinit-check" in out
    failing = [c for c in ET.parse(xml).getroot().iter("testcase") if c.find("failure") is not None]
    assert len(failing) == 4
    props = {p.get("name"): p.get("value") for p in failing[0].iter("property")}
    assert props["check0.name"].endswith("within bounds") and props["check0.status"] == "PASS"
    assert props["check1.status"] == "FAIL" and props["check1.metric"] == "p-value"
    assert props["check1.reference"].startswith("U(+-0.294628)")


def test_wrong_conv_dilation_fails(pytester):
    pytester.makepyfile(mykernels=WRONG_DILATION)
    pytester.syspathinsert()
    result = pytester.runpytest("--convinit-backend", "mykernels:backend", "--convinit-quick",
                                "--convinit-suite", "conv",
                                "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 1 and outcomes["skipped"] > 0


def test_xfails_file_and_strict(pytester):
    pytester.makepyfile(mykernels=WRONG_TANH_GAIN)
    pytester.syspathinsert()
    failing = [f"init/kaiming_uniform[(48,96)-{m}-tanh-{d}]::scale" for m in ("fan_in", "fan_out")
               for d in ("float32", "float64")]
    passing = "init/kaiming_normal[(48,96)-fan_in-tanh-float32]::scale"
    pytester.path.joinpath("xfails.txt").write_text(
        "# known problems\n" + "".join(f"{f}  # uses the linear gain for tanh\n" for f in failing))
    args = ["--convinit-backend", "mykernels:backend", *QUICK_INIT, "-k", "kaiming and 48 and tanh",
            "--convinit-xfails", "xfails.txt"]
    result = pytester.runpytest(*args)
    assert result.ret == 0
    assert result.parseoutcomes()["xfailed"] == 4
    pytester.path.joinpath("xfails.txt").write_text(f"convinit/{passing}  # wrongly listed\n")
    lenient = pytester.runpytest(*args[:-1], "xfails.txt", "--convinit-check", passing)
    assert lenient.ret == 0 and lenient.parseoutcomes()["xpassed"] == 1
    strict = pytester.runpytest(*args[:-1], "xfails.txt", "--convinit-check", passing, "--convinit-strict")
    assert strict.ret == 1 and strict.parseoutcomes()["failed"] == 1


def test_environment_variable_activates_and_missing_functions_skip(pytester, monkeypatch):
    pytester.makepyfile(mykernels=CORRECT)
    pytester.syspathinsert()
    monkeypatch.setenv("CONVINIT_BACKEND", "mykernels:backend")
    result = pytester.runpytest("--convinit-quick", "--convinit-suite", "init", "-p", "no:cacheprovider",
                                "-k", "xavier_normal and 48 and float32", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["skipped"] >= 14 and "passed" not in outcomes
    assert "backend lacks xavier_normal" in result.stdout.str()


def test_parametrize_with_checks_in_a_user_file(pytester):
    pytester.makepyfile(mykernels=CORRECT, wrong=WRONG_TANH_GAIN)
    pytester.makepyfile(test_user="""
        import convinit.testing
        import mykernels, wrong

        @convinit.testing.parametrize_with_checks(mykernels, suites=["init"])
        def test_mine(check):
            check()

        @convinit.testing.parametrize_with_checks(wrong, suites=["init"])
        def test_wrong(check):
            check()

        def test_checks_yields_ids():
            ids = [c.id for c in convinit.testing.checks(mykernels, suites=["init"])]
            assert "init/kaiming_normal[(32,16,3,5)-fan_out-relu-float64]::scale" in ids
            assert len(ids) == len(set(ids))
    """)
    pytester.syspathinsert()
    good = pytester.runpytest("-p", "no:cacheprovider", "-q", "-k", "test_mine and kaiming and 48 and tanh")
    good.assert_outcomes(passed=8)
    bad = pytester.runpytest("-p", "no:cacheprovider", "-q", "-k", "test_wrong and kaiming_uniform and 48 and tanh")
    bad.assert_outcomes(failed=4)
    assert "extremes vs bounds" in bad.stdout.str()
    ids = pytester.runpytest("-p", "no:cacheprovider", "-q", "-k", "checks_yields_ids")
    ids.assert_outcomes(passed=1)


def test_runs_under_xdist(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(mykernels=CORRECT)
    result = pytester.runpytest_subprocess("--convinit-backend", "mykernels:backend", *QUICK_INIT, "-n", "2",
                                           "-k", "kaiming_normal and 48", "-p", "xdist",
                                           "--rootdir", str(pytester.path))
    result.assert_outcomes(passed=56)   # 14 nonlinearities x 2 modes x 2 dtypes
