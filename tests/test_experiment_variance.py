"""convinit experiment variance: the text's claims, and the statistics
against an independent NumPy re-implementation of text 000's loop."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from convinit.experiments import variance


def test_default_claims_hold_with_the_issue_bounds():
    r = variance.run_dense(variance.Config(trials=100_000))
    assert 0.8 <= r["E_a2"] / r["E_x2"] <= 1.2
    assert 0.85 <= r["Var_y"] / (2 * r["E_a2"]) <= 1.15
    assert all(v["holds"] for v in r["verdicts"])
    assert r["E_x2"] == pytest.approx(3.0, rel=0.01)  # E[(3U)^2] = 3


def text_000_loop(trials: int, activation: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """Text 000's per-trial loop, vectorized with NumPy's own generator."""
    x = 3 * rng.random((trials, 5))
    a = x
    for layer in range(10):
        m, n = (5, 10) if layer % 2 == 0 else (10, 5)
        w = rng.normal(0.0, np.sqrt(2.0 / m), (trials, m, n))
        y = np.einsum("tm,tmn->tn", a, w)
        a = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[activation](y)
    return float(np.mean(x * x)), float(np.mean(a * a)), float(np.mean(np.var(y, axis=0)))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_statistics_agree_with_an_independent_implementation(activation):
    """Same experiment, different random numbers: the estimates agree within sampling error."""
    e_x2, e_a2, var_y = text_000_loop(40_000, activation, np.random.default_rng(5))
    r = variance.run_dense(variance.Config(trials=40_000, activation=activation, seed=3))
    tol = 0.12 if activation == "relu" else 0.05  # relative; ReLU's 10-layer product is heavy-tailed
    assert r["E_x2"] == pytest.approx(e_x2, rel=0.02)
    assert r["E_a2"] == pytest.approx(e_a2, rel=tol)
    assert r["Var_y"] == pytest.approx(var_y, rel=tol)


def test_chunking_does_not_change_results(monkeypatch):
    """Chunks draw their slices of the same logical tensors (flat_range): only
    the order of the final sums changes, so results agree to rounding."""
    cfg = variance.Config(trials=3_000, seed=1, backward=True)
    whole = variance.run_dense(cfg)
    monkeypatch.setattr(variance, "CHUNK", 700)
    chunked = variance.run_dense(cfg)
    for a, b in zip(whole["layers"], chunked["layers"]):
        assert a == pytest.approx(b, rel=1e-12)


def test_tanh_holds_its_spread_and_sigmoid_collapses():
    tanh = variance.run_dense(variance.Config(trials=20_000, activation="tanh"))["layers"][-1]
    sigmoid = variance.run_dense(variance.Config(trials=20_000, activation="sigmoid"))["layers"][-1]
    assert tanh["Var_a"] / tanh["E_a2"] > 0.9
    assert sigmoid["Var_a"] / sigmoid["E_a2"] < 0.2


def test_fan_out_keeps_the_backward_gradient_level_and_fan_in_does_not():
    level = lambda mode: variance.run_dense(variance.Config(trials=20_000, mode=mode, backward=True))["verdicts"][-1]
    assert level("fan_out")["holds"] and not level("fan_in")["holds"]


def test_fixed_weights_and_bias_run():
    r = variance.run_dense(variance.Config(trials=5_000, fixed_weights=True, bias=True, init="xavier"))
    assert len(r["layers"]) == 10 and np.isfinite(r["E_a2"])


def test_cnn_variant_holds():
    r = variance.run_cnn(variance.Config(trials=1_024))
    assert 0.8 <= r["E_a2"] / r["E_x2"] <= 1.2
    assert 0.85 <= r["Var_y"] / (2 * r["E_a2"]) <= 1.15


def test_cli_writes_json_and_plot(tmp_path):
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "variance", "--trials", "2000",
                          "--json", str(tmp_path / "v.json"), "--plot", str(tmp_path / "v.png")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "v.json").read_text())
    assert {"E_x2", "E_a2", "Var_y", "layers", "verdicts"} <= set(data)
    assert {"E_a2", "Var_y"} <= set(data["layers"][0]) and len(data["layers"]) == 10
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "HOLDS: E[a^2]" in out.stdout


def test_cli_rejects_bad_values():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "variance", "--trials", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "trials" in out.stderr
