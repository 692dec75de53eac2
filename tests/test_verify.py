"""`convinit verify`: the CLI end to end, plugged-in backends, the mutant
catalog, skipped-function reporting, and the stated statistical power."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from convinit.verify import load_backend, stats
from convinit.verify.backends import BackendError
from convinit.verify.context import BUDGETS, Context, References
from convinit.verify.mutants import CATALOG, GENERATED, all_mutants
from convinit.verify.suites.conv_cover import FACTORS, allowed, conv_arguments, covering_array
from convinit.verify.suites.init_scales import NONLINEARITIES, RANK_SHAPES, scale_cases
from convinit.verify.runner import make_plan
from convinit.verify.selftest import run_mutant

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")

# A correct plug-in with two functions: everything else must be reported as skipped.
GOOD_PLUGIN = '''
import math
import numpy as np
import convinit
from convinit.init import calculate_gain


def kaiming_normal(shape, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None, dtype="float32"):
    receptive = math.prod(shape[2:])
    fan = shape[1] * receptive if mode == "fan_in" else shape[0] * receptive
    gain = calculate_gain(nonlinearity, a)
    return np.random.default_rng(seed).normal(0, gain / math.sqrt(fan), shape).astype(dtype)


class Backend:
    conv2d = staticmethod(convinit.conv2d)
    kaiming_normal = staticmethod(kaiming_normal)
'''

# The same with a convolution that flips the kernel (a convolution, not a correlation).
BAD_PLUGIN = GOOD_PLUGIN + '''

def flipped_conv2d(input, weight, *args, **kwargs):
    return convinit.conv2d(input, np.ascontiguousarray(np.asarray(weight)[..., ::-1, ::-1]), *args, **kwargs)


class Broken(Backend):
    conv2d = staticmethod(flipped_conv2d)
'''


def verify(*args: str, cwd=None, pythonpath=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "convinit.cli", "verify", *args], capture_output=True, text=True,
                          cwd=cwd, env=env)


def summary(out: subprocess.CompletedProcess) -> tuple[int, int]:
    last = out.stdout.rstrip("\n").splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, f"last line {last!r} is not 'N passed, M failed'"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `convinit verify --quick` with both reports (shared by several tests)."""
    folder = tmp_path_factory.mktemp("verify")
    out = verify("--quick", "--json", str(folder / "report.json"), "--html", str(folder / "report.html"))
    return out, folder


@pytest.fixture
def plugins(tmp_path):
    (tmp_path / "good_plugin.py").write_text(GOOD_PLUGIN)
    (tmp_path / "bad_plugin.py").write_text(BAD_PLUGIN)
    return tmp_path


def test_quick_run_passes_with_summary_last(quick_run):
    out, _ = quick_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    passed, failed = summary(out)
    assert passed > 200 and failed == 0
    assert "per-test alpha" in out.stdout


def test_json_has_every_check_record(quick_run):
    out, folder = quick_run
    report = json.loads((folder / "report.json").read_text())
    assert report["schema"] == "convinit-verify/1"
    for key in ("backend", "suites", "mode", "seed", "family_alpha", "per_test_alpha", "statistical_tests",
                "passed", "failed", "skipped", "functions_found", "functions_missing", "checks"):
        assert key in report
    assert report["suites"] == ["conv", "init", "rng", "variance", "params"] and report["mode"] == "quick"
    assert report["family_alpha"] == 1e-6
    assert math.isclose(report["per_test_alpha"], 1e-6 / report["statistical_tests"])
    checks = report["checks"]
    assert sum(c["status"] == "PASS" for c in checks) == report["passed"] == summary(out)[0]
    for check in checks:
        assert {"suite", "name", "reference", "metric", "value", "tolerance", "status", "passed", "detail",
                "statistical", "detectable", "n"} <= set(check)
        assert check["status"] in ("PASS", "FAIL", "SKIP")
    statistical = [c for c in checks if c["statistical"]]
    assert len(statistical) == report["statistical_tests"]
    assert all(c["detectable"].startswith("detects") and c["n"] > 0 for c in statistical)
    assert {c["test"] for c in statistical} >= {"Kolmogorov-Smirnov", "chi-square", "z-test (mean)",
                                                "z-test (std)", "extremes vs bounds"}


def test_html_report_is_self_contained_with_plots(quick_run):
    _, folder = quick_run
    page = (folder / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") >= 10   # conv errors + histogram/QQ per distribution
    assert "src='http" not in page and "<script" not in page


def test_stated_power_meets_the_issue_in_quick_mode(quick_run):
    """Quick mode detects a 2% std error and a uniform bound 3% short (power >= 0.99)."""
    _, folder = quick_run
    checks = json.loads((folder / "report.json").read_text())["checks"]
    std_tests = [c for c in checks if c["test"] == "z-test (std)" and "scale" not in c["name"]]
    support_tests = [c for c in checks if c["test"] == "extremes vs bounds"]
    assert std_tests and max(c["detectable_effect"] for c in std_tests) < 0.02
    assert support_tests and max(c["detectable_effect"] for c in support_tests) < 0.03


def test_correct_plugin_passes_and_reports_skipped_functions(plugins):
    out = verify("--quick", "--backend", "good_plugin:Backend", "--json", str(plugins / "r.json"),
                 pythonpath=plugins)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert summary(out)[1] == 0
    assert "functions found: conv2d, kaiming_normal" in out.stdout
    assert re.search(r"skipping \d+ checks of functions the backend lacks: .*Generator", out.stdout)
    report = json.loads((plugins / "r.json").read_text())
    assert report["functions_found"] == ["conv2d", "kaiming_normal"]
    assert "conv3d" in report["functions_missing"]
    skipped = [c for c in report["checks"] if c["status"] == "SKIP"]
    assert len(skipped) == report["skipped"] > 0
    assert any("backend lacks conv3d" in c["detail"] for c in skipped)
    ran = {c["name"].split("(")[0].split(" ")[0] for c in report["checks"] if c["status"] == "PASS"}
    assert {"conv2d", "kaiming_normal"} <= ran


def test_broken_plugin_fails_with_exit_status_1(plugins):
    out = verify("conv", "--quick", "--backend", "bad_plugin:Broken", pythonpath=plugins)
    assert out.returncode == 1
    passed, failed = summary(out)
    assert failed > 10
    assert "FAILED" in out.stdout
    # one line per suite by default, the failures in full and the command rerunning one
    assert re.search(r"^suite conv +FAILED +\d+ passed, \d+ failed", out.stdout, re.M)
    rerun = re.search(r"^rerun one: convinit verify --backend bad_plugin:Broken --quick -k '([^']+)'", out.stdout,
                      re.M)
    assert rerun, out.stdout[-2000:]
    again = verify("conv", "--quick", "--backend", "bad_plugin:Broken", "-k", rerun.group(1), "-v",
                   pythonpath=plugins)
    assert again.returncode == 1 and summary(again)[0] + summary(again)[1] < passed + failed
    assert rerun.group(1) in again.stdout


@pytest.mark.parametrize("args, message", [
    (["nosuchsuite"], "unknown suite 'nosuchsuite'"),
    (["--backend", "nosuchbackend"], "unknown backend 'nosuchbackend'"),
    (["--backend", "no_such_module_xyz:thing"], "cannot import module 'no_such_module_xyz'"),
    (["--backend", "math:no_such_attr"], "has no attribute 'no_such_attr'"),
    (["--backend", "math:pi"], "none of convinit's public functions"),
    (["init", "--backend", "scipy"], "has none of the functions"),
    (["--quick", "--full"], "not allowed with argument"),
    (["--seed", "-1"], "expected an integer"),
])
def test_usage_errors_exit_2(args, message):
    out = verify(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert "usage: convinit verify" in out.stderr


def test_scipy_backend_runs_only_what_it_has():
    out = verify("--quick", "--backend", "scipy")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "suites conv;" in out.stdout
    assert "functions found: correlate2d, convolve2d" in out.stdout


def test_numpy_reference_agrees_with_torch():
    """The float64 reference itself, checked against torch/SciPy as a backend."""
    out = verify("--quick", "--backend", "numpy", "conv", "init")
    assert out.returncode == 0, out.stdout[-3000:]


def test_torch_probe_equals_the_papers_formulas():
    pytest.importorskip("torch")
    from convinit.verify import reference, torch_adapter
    from convinit.verify.suites.init import FILL_CASES

    for case in FILL_CASES:
        if case.fill.startswith(("xavier", "kaiming")):
            probed = torch_adapter.probe_scale(case.fill, case.shape, **case.params)
            assert math.isclose(probed, reference.init_scale(case.fill, case.shape, **case.params), rel_tol=1e-12)


def test_catalog_covers_the_required_bug_kinds():
    names = {m.name for m in CATALOG}
    assert {"std +2%", "uniform bound -3%", "fan_in/fan_out swapped", "gain missing", "tanh gain wrong",
            "variance as std", "kernel flipped", "padding shifted", "bias ignored", "correlated streams",
            "thread-dependent conv", "thread-dependent fills"} <= names


@pytest.fixture(scope="module")
def quick_plan():
    base = load_backend("convinit").completed_by(load_backend("numpy"))
    budget = BUDGETS["quick"]
    plan = make_plan(base, [], budget, 0)
    return plan, Context(base, budget, 0, plan.alpha, References(base.name))


@pytest.mark.parametrize("mutant", all_mutants(), ids=lambda m: m.name)
def test_each_mutant_is_caught(mutant, quick_plan):
    plan, ctx = quick_plan
    outcome = run_mutant(mutant, plan, ctx, None)
    assert outcome.checks, f"no check calls what {mutant.name} replaces"
    assert outcome.failures, f"{mutant.name} ({mutant.bug}) passed all {len(outcome.checks)} checks"


def test_self_test_cli_on_one_suite():
    out = verify("--self-test", "conv")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "CAUGHT" in out.stdout and "MISSED" not in out.stdout
    assert summary(out)[1] == 0


def test_std_test_power_by_simulation():
    """A 2% std error at quick-mode size is rejected in every replicate; the truth is not."""
    n, alpha = BUDGETS["quick"].fill_samples, stats.bonferroni_alpha(100)
    rng = np.random.default_rng(1)
    for _ in range(10):
        assert stats.std_z_test(rng.normal(0, 1.02, n), 0.0, 1.0, 3.0, alpha).p_value < alpha
        assert stats.std_z_test(rng.normal(0, 1.0, n), 0.0, 1.0, 3.0, alpha).p_value >= alpha


def test_load_backend_errors_are_backend_errors():
    with pytest.raises(BackendError):
        load_backend("nope")
    assert load_backend("numpy").missing == []


def test_covering_array_holds_every_allowed_pair():
    rows = covering_array()
    names = list(FACTORS)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for va in FACTORS[a]:
                for vb in FACTORS[b]:
                    if allowed({a: va, b: vb}):
                        assert any(r[a] == va and r[b] == vb for r in rows), (a, va, b, vb)
    assert all(allowed(r) for r in rows) and len(rows) < 40


def test_covering_array_rows_are_valid_torch_calls():
    torch = pytest.importorskip("torch")
    for row in covering_array():
        args = conv_arguments(row)
        module = getattr(torch.nn, f"Conv{args['dims']}d")(
            args["channels"], args["out_channels"], args["kernel"], args["stride"], args["padding"], args["dilation"],
            args["groups"], args["bias"], args["padding_mode"])
        shape = ((args["batch"],) if args["batch"] else ()) + (args["channels"],) + args["size"]
        with torch.no_grad():
            assert module(torch.zeros(shape)).numel() > 0


def test_scale_cross_product_is_complete():
    cases = scale_cases()
    kaiming = {(c.fill, c.shape, c.dtype, dict(c.params)["mode"], dict(c.params)["nonlinearity"],
                dict(c.params).get("a")) for c in cases if c.fill.startswith("kaiming")}
    assert kaiming == {(f, s, d, m, nl, p) for f in ("kaiming_uniform", "kaiming_normal") for s in RANK_SHAPES.values()
                       for d in ("float32", "float64") for m in ("fan_in", "fan_out") for nl, p in NONLINEARITIES}
    xavier = {(c.fill, c.shape, c.dtype, c.gain_of) for c in cases if c.fill.startswith("xavier")}
    assert len(xavier) == 2 * 4 * 2 * len(NONLINEARITIES)
    for rank, shape in RANK_SHAPES.items():
        fan_in, fan_out = shape[1] * math.prod(shape[2:]), shape[0] * math.prod(shape[2:])
        assert len(shape) == rank and fan_in != fan_out


def test_generated_mutants_cover_every_family():
    names = {m.name for m in GENERATED}
    for fill in ("kaiming_uniform", "kaiming_normal"):
        assert {f"{fill} gain[tanh]", f"{fill} mode[fan_in]", f"{fill} mode[fan_out]"} <= names
    assert {f"receptive field[rank {r}]" for r in (2, 3, 4, 5)} <= names
    for conv in ("conv1d", "conv2d", "conv3d"):
        for parameter in ("stride", "dilation", "groups", "padding same", "padding_mode reflect",
                          "padding_mode replicate", "padding_mode circular"):
            assert f"{conv} {parameter}" in names
    assert len(all_mutants()) == len(CATALOG) + len(GENERATED) > 80


def test_kurtosis_tail_and_extreme_tests_catch_heavy_tails():
    """One value at 1000 sigma (the old erfinv trunc_normal_) and values piled at a bound."""
    from scipy import stats as sps

    rng = np.random.default_rng(3)
    alpha = stats.bonferroni_alpha(1000)
    x = rng.standard_normal(2 ** 18)
    for test in (stats.kurtosis_z_test, stats.tail_test, stats.extreme_test):
        assert test(x, sps.norm(), alpha).p_value >= alpha
    spiked = x.copy()
    spiked[7] = 1000.0
    assert stats.extreme_test(spiked, sps.norm(), alpha).p_value < alpha
    assert stats.kurtosis_z_test(spiked, sps.norm(), alpha).p_value < alpha
    dist = sps.truncnorm(-2, 2)
    y = dist.rvs(2 ** 18, random_state=rng)
    assert stats.tail_test(y, dist, alpha).p_value >= alpha
    y[: 2 ** 9] = 2.0   # 0.2% of the values piled up at the upper bound
    assert stats.tail_test(y, dist, alpha).p_value < alpha
