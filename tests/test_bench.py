"""convinit bench: the report's structure and the CLI (timings are not asserted)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from convinit import _core
from convinit.tools import bench
from convinit.tools import layers


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
    assert "readme: convinit is" in out.stdout and "slowest" in out.stdout


def test_cli_rejects_unknown_backend():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "--vs", "jax"], capture_output=True, text=True)
    assert out.returncode == 2 and "jax" in out.stderr


# Totals published with torchvision's weights (multiply-adds of one 224x224
# image, or one 16x112x112 clip, in billions), which include the classifier.
def _macs(named_layers) -> float:
    return sum(layer.flops() / 2 for _, layer in named_layers) / 1e9


def test_resnet18_layers_add_up_to_torchvisions_gflops():
    fc = 512 * 1000 / 1e9
    assert _macs(layers.resnet18_convs()) + fc == pytest.approx(1.81, abs=0.005)


def test_mobilenet_v2_layers_add_up_to_torchvisions_gflops():
    stem, fc = layers.conv(1, 3, (224, 224), 32, 3, 2, 1).flops() / 2 / 1e9, 1280 * 1000 / 1e9
    assert _macs(layers.mobilenet_v2_convs()) + stem + fc == pytest.approx(0.30, abs=0.005)


def test_r3d_18_layers_add_up_to_torchvisions_gflops():
    assert _macs(layers.r3d_18_convs()) + 512 * 400 / 1e9 == pytest.approx(40.70, abs=0.005)


def test_wav2vec2_encoder_gives_49_frames_per_second_of_audio():
    *_, (_, last) = layers.wav2vec2_feature_convs(16000)
    assert last.out_size == (49,) and last.out_channels == 512


def test_resnext50_has_16_grouped_convs_of_32_groups():
    grouped = [layer for _, layer in layers.resnext50_grouped_convs()]
    assert len(grouped) == 3 + 4 + 6 + 3 and {layer.groups for layer in grouped} == {32}
    assert [layer.channels for layer in grouped[::5]] == [128, 256, 512, 1024]


def test_efficientnet_b0_has_16_depthwise_convs_of_3x3_and_5x5():
    # Table 1 of Tan & Le (2019): 1 + 2 + 2 + 3 + 3 + 4 + 1 MBConv blocks,
    # the last at 7x7 expanding 192 channels six times.
    convs = [layer for _, layer in layers.efficientnet_b0_depthwise_convs()]
    assert len(convs) == 16 and {layer.kernel for layer in convs} == {(3, 3), (5, 5)}
    assert [layer.stride[0] for layer in convs].count(2) == 4
    assert (convs[-1].channels, convs[-1].size, convs[-1].out_size) == (1152, (7, 7), (7, 7))


def test_convnext_tiny_has_18_depthwise_7x7_convs():
    convs = [layer for _, layer in layers.convnext_tiny_depthwise_convs()]
    assert len(convs) == 3 + 3 + 9 + 3 and {layer.kernel for layer in convs} == {(7, 7)}
    assert sorted({(layer.channels, layer.size[0]) for layer in convs}) == [(96, 56), (192, 28), (384, 14), (768, 7)]


def test_suites_hold_every_distinct_layer_at_each_batch():
    resnet, mobilenet = layers.SUITES["resnet18"], layers.SUITES["mobilenet_v2"]
    assert len(resnet) == 2 * len(set(layer for _, layer in layers.resnet18_convs())) == 22
    assert {layer.batch for layer in resnet.values()} == {1, 16}
    assert {layer.batch for layer in mobilenet.values()} == {1, 8}
    depthwise = [layer for layer in mobilenet.values() if layer.groups > 1]
    assert all(layer.groups == layer.channels == layer.out_channels for layer in depthwise) and len(depthwise) == 20
    assert all(layer.kernel == (1, 1) for layer in mobilenet.values() if layer.groups == 1)
    assert {layer.dims for layer in layers.SUITES["more"].values()} == {1, 2, 3}
    wide = layers.SUITES["depthwise"].values()
    assert all(layer.groups == layer.channels == layer.out_channels for layer in wide) and len(wide) == 2 * (12 + 4)
    assert list(layers.suite_layers("all")) == ["resnet18", "mobilenet_v2", "more"]
    with pytest.raises(ValueError, match="suite"):
        layers.suite_layers("vgg")


@pytest.mark.parametrize("name", ["readme", "resnet18", "mobilenet_v2", "more", "depthwise"])
def test_layer_shapes_match_torch(name):
    import torch

    for layer in layers.SUITES[name].values():
        x = torch.empty(layer.input_shape, device="meta")
        w = torch.empty(layer.weight_shape, device="meta")
        y = getattr(torch.nn.functional, f"conv{layer.dims}d")(x, w, stride=layer.stride, padding=layer.padding,
                                                                groups=layer.groups)
        assert tuple(y.shape) == (layer.batch, layer.out_channels, *layer.out_size)
        assert layer.flops() == 2 * y.numel() * w[0].numel()


@pytest.mark.parametrize("layer", [layers.conv(2, 6, (17,), 4, 3, 2, 1, groups=2),
                                   layers.conv(2, 4, (9, 8), 6, 3, 2, 1, groups=2),
                                   layers.conv(2, 4, (5, 7, 6), 6, 3, 2, 1, groups=2)], ids=["conv1d", "conv2d", "conv3d"])
def test_convinit_backward_equals_torch_autograd(layer):
    import torch

    x, w = (a.astype(np.float64) for a in bench.layer_arrays(layer, "float32"))
    y = bench.convinit_forward(layer, threads=1)(x, w)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    grad_x, grad_w = bench.convinit_backward(layer, threads=1)(x, w, dy)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    ty = getattr(torch.nn.functional, f"conv{layer.dims}d")(tx, tw, stride=layer.stride, padding=layer.padding,
                                                              groups=layer.groups)
    ty.backward(torch.from_numpy(dy))
    assert np.allclose(y, ty.detach().numpy(), atol=1e-12)
    assert np.allclose(grad_x, tx.grad.numpy(), atol=1e-12) and np.allclose(grad_w, tw.grad.numpy(), atol=1e-12)


def test_each_backend_is_timed_in_its_own_block():
    calls = []
    timing = bench.Timing(repeats=3, pause=0.0, warmup=0.0, sample=0.0)
    bench.median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, timing)
    assert "".join(calls) == "aaaabbbb"  # one warm-up call and three samples each, never interleaved


def test_rounds_alternate_the_blocks_and_take_the_median_round(monkeypatch):
    calls, times = [], iter([1.0, 0, 9.0, 0, 2.0, 0, 3.0, 0, 9.0, 0, 4.0, 0])
    timing = bench.Timing(repeats=1, rounds=3, pause=0.0, warmup=0.0, sample=0.0)
    monkeypatch.setattr(bench, "time_block", lambda fn, timing: (fn(), (next(times), next(times)))[1])
    measured = bench.median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, timing)
    assert "".join(calls) == "abbaab"  # the order turns each round
    # a's rounds 1, 3, 9 and b's 9, 2, 4: the medians, not the means, and each round's time
    assert measured == {"a": (3.0, 0, [1.0, 3.0, 9.0]), "b": (4.0, 0, [9.0, 2.0, 4.0])}


def test_each_rounds_ratio_pairs_the_blocks_of_that_round():
    measured = {"convinit": (2.0, 1.0, [1.0, 2.0, 4.0]), "torch": (3.0, 1.0, [3.0, 3.0, 2.0])}
    rows = {r.backend: r for r in bench._rows("s", "layer", measured, 1e9, "GFLOP/s", None)}
    assert rows["convinit"].vs_torch == 1.5 and rows["convinit"].vs_torch_rounds == [3.0, 1.5, 0.5]
    report = {"machine": {"threads": 2, "dtype": "float32", "repeats": 1, "rounds": 3, "suite": "s"},
              "probes": {"fma_gflops_f32": 1.0, "write_gbps": 1.0},
              "rows": [dataclasses.asdict(r) for r in rows.values()]}
    # The table and the summary's slowest case give the lowest and highest round.
    assert "1.50x (0.50-3.00)" in bench.render(report)
    assert bench.summary(report) == ("s: convinit is 1.50x torch (geometric mean over 1 cases; "
                                     "slowest layer at 1.50x (0.50-3.00))")


def test_algorithm_passes_through_only_where_accepted():
    assert bench.algorithm_kwargs(lambda x, w, algorithm="auto": None, "winograd") == {"algorithm": "winograd"}
    assert bench.algorithm_kwargs(lambda x, w: None, "auto") == {}
    with pytest.raises(ValueError, match="algorithm"):
        bench.algorithm_kwargs(lambda x, w: None, "winograd")


def test_cli_suite_backward_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "--suite", "readme", "--backward",
                          "--repeats", "1", "--json", str(tmp_path / "b.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert {r["suite"] for r in rows} == {"readme fwd+bwd"} and len(rows) == 12
    assert all(r["shape"] for r in rows) and "readme fwd+bwd: convinit is" in out.stdout


def test_cli_lists_a_suite_without_timing():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "--suite", "all", "--list"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "more: r3d_18 stem.0 b1" in out.stdout and "mobilenet_v2: features.15.conv.1.0 (depthwise) b8" in out.stdout


def test_cli_rejects_suite_for_fills():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "init", "--suite", "resnet18"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--suite" in out.stderr


def test_asv_reads_the_same_layers():
    from pathlib import Path

    copy = Path(__file__).parents[1] / "asv_bench" / "benchmarks" / "layers.json"
    assert copy.read_text() == layers.as_json(), "run: python -m convinit.tools.layers > asv_bench/benchmarks/layers.json"


def test_asv_benchmarks_import_only_the_public_api():
    import ast
    from pathlib import Path

    for path in (Path(__file__).parents[1] / "asv_bench" / "benchmarks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [m for m in modules if m.startswith("convinit.")], f"{path.name} imports {modules}"


def test_offline_html_points_cdn_tags_at_vendored_files(tmp_path):
    import importlib.util
    from pathlib import Path

    asv_dir = Path(__file__).parents[1] / "asv_bench"
    spec = importlib.util.spec_from_file_location("offline_html", asv_dir / "offline_html.py")
    offline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(offline)
    page = ('<script src="https://code.jquery.com/jquery-3.3.1.min.js" integrity="sha256-x" crossorigin="anonymous" '
            'onerror="f()"></script>\n<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/'
            'css/bootstrap.min.css" integrity="sha256-y" crossorigin="anonymous">\n'
            '<a href="https://github.com/airspeed-velocity/asv/">asv</a>')
    (tmp_path / "index.html").write_text(page)
    assert offline.main(tmp_path) == 0
    out = (tmp_path / "index.html").read_text()
    assert '<script src="vendor/jquery-3.3.1.min.js" onerror="f()">' in out
    assert 'href="vendor/bootstrap-3.1.0.min.css">' in out and "https://github.com/airspeed-velocity/asv/" in out
    assert all((tmp_path / "vendor" / name).is_file() for name in offline.LOCAL.values())


def test_region_benchmark_times_the_slices_of_one_fill():
    from convinit import init
    from convinit.tools import bench_regions

    shape, region = bench_regions.region_of(3000, 256)
    assert region[1][1] - region[1][0] == 256 and shape[1] > region[1][1]
    full = init.normal(shape, std=0.02, seed=1)
    assert np.array_equal(init.normal(shape, std=0.02, seed=1, region=region),
                          full[region[0][0]:region[0][1], region[1][0]:region[1][1]])
    rates = bench_regions.measure("normal", "float32", 3000, rounds=1)
    assert set(rates) == {"contiguous", 256, 512, 1024} and all(v > 0 for v in rates.values())


def test_cli_init_regions():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "bench", "init", "--regions", "--repeats", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "float64 trunc_normal" in out.stdout and "rows of 1024" in out.stdout


def test_distributed_benchmark_smoke():
    """`convinit bench init --distributed` on a model of ~0.1M parameters (one FSDP2 rank per path) and a 4 MiB
    Dask tensor on one worker: both init paths run, the shards are finite, and the report renders."""
    from convinit.tools import bench_distributed as bd

    models = [bd.run_model(path, bd.TINY, world=1) for path in ("convinit", "torch")]
    report = {"models": models, "dask": bd.run_dask((256, 4096), 32, workers=1, memory_limit=512 << 20),
              "cpu": "test", "cores": 2}
    for m in models:
        assert len(m["ranks"]) == 1 and all(r["finite"] for r in m["ranks"])
        assert sum(r["local_params"] for r in m["ranks"]) == m["ranks"][0]["params"]
    assert report["dask"]["bytes"] == 256 * 4096 * 4 and report["dask"]["gbps_per_worker"] > 0
    text = bd.render(report, markdown=True)
    assert "| convinit |" in text and "| torch |" in text and "GB/s per worker" in text
