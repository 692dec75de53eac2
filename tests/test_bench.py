"""convinit bench: the report's structure and the CLI (timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from convinit import _core, bench


def test_probes_report_positive_rates():
    assert _core.fma_gflops(1, 100_000) > 0
    assert _core.write_gbps(1, 1 << 20, 2) > 0


def test_init_report_has_every_backend_and_ratio():
    report = bench.run(("init",), ("torch", "numpy"), threads=1, repeats=1, size=1 << 16)
    rows = report["rows"]
    assert {(r["case"], r["backend"]) for r in rows} >= {("uniform", "convinit"), ("uniform", "torch"),
                                                         ("uniform", "numpy"), ("trunc_normal", "convinit")}
    for r in rows:
        assert r["seconds"] > 0 and r["rate"] > 0 and r["unit"] == "G values/s"
        assert abs(r["rate"] - (1 << 16) / r["seconds"] / 1e9) < 1e-9 * r["rate"]
    torch_uniform = next(r for r in rows if r["case"] == "uniform" and r["backend"] == "torch")
    assert torch_uniform["vs_torch"] == 1.0
    assert "init: convinit is" in bench.summary(report)


def test_numpy_baseline_is_a_correct_convolution(rng):
    import torch

    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    assert abs(bench.numpy_im2col_conv2d(x, w, 2, 1) - ref).max() < 1e-12


def test_scipy_baseline_is_a_correct_convolution(rng):
    import torch

    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    assert abs(bench.scipy_conv2d(x, w, 2, 1) - ref).max() < 1e-12


def test_scipy_fills_join_the_init_report():
    report = bench.run(("init",), ("torch", "scipy"), threads=1, repeats=1, size=1 << 12)
    assert {r["case"] for r in report["rows"] if r["backend"] == "scipy"} == {"uniform", "normal", "trunc_normal"}


def test_cli_conv_json_and_plot(tmp_path):
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "conv", "--repeats", "1", "--vs", "torch",
                          "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert {"machine", "probes", "rows"} <= set(report) and len(report["rows"]) == 12
    assert report["probes"]["fma_gflops_f32"] > 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert "conv: convinit is" in out.stdout


def test_cli_rejects_unknown_backend():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "--vs", "jax"], capture_output=True, text=True)
    assert out.returncode == 2 and "jax" in out.stderr
