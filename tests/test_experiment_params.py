"""convinit experiment params: the text's counts, AlexNet's, and torch's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convinit.experiments import params

# Text 003's printed answer.
TEXT_TENSORS = [
    ("net.conv2d_00.weight", (32, 1, 3, 3)), ("net.conv2d_00.bias", (32,)),
    ("net.conv2d_04.weight", (64, 32, 3, 3)), ("net.conv2d_04.bias", (64,)),
    ("net.linear_09.weight", (32, 3136)), ("net.linear_09.bias", (32,)),
    ("net.linear_11.weight", (10, 32)), ("net.linear_11.bias", (10,)),
]


def test_text_cnn_has_the_texts_tensors_and_total():
    report = params.analyze(params.text_cnn_spec())
    assert [(t.name, t.shape) for t in report.tensors] == TEXT_TENSORS
    assert report.total == 119_530


def test_a_3x3_conv_from_128_to_64_channels_has_73728_weights():
    spec = {"input": [128, 8, 8], "layers": [{"type": "conv2d", "out_channels": 64, "kernel_size": 3, "bias": False}]}
    assert params.analyze(spec).total == 3 * 3 * 128 * 64 == 73_728


def test_alexnet_matches_torchvisions_count():
    assert params.analyze(params.alexnet_spec()).total == 61_100_840


@pytest.mark.parametrize("spec", [params.text_cnn_spec(), params.text_cnn_spec(batchnorm=True), params.alexnet_spec(),
                                  params.text_cnn_spec(xdim=(3, 32, 30), ksize=5, cdims=(8, 16, 4), hdims=(20, 7))])
def test_every_count_and_shape_agrees_with_torch(spec):
    for what, mine, torch_value in params.compare_with_torch(spec):
        assert mine == torch_value, what


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "params", *args],
                          capture_output=True, text=True)


def test_cli_prints_the_total_and_writes_json(tmp_path):
    out = run_cli("--json", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr
    assert "Total number of parameters: 119,530" in out.stdout
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["total"] == 119_530
    assert [(t["name"], tuple(t["shape"]), t["count"]) for t in data["tensors"]][4] == (
        "net.linear_09.weight", (32, 3136), 100_352)
    assert {"name", "type", "output_shape", "count"} <= set(data["layers"][0])


def test_cli_reads_a_json_spec(tmp_path):
    spec = {"input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 6, "kernel_size": 5}, {"type": "maxpool2d", "kernel_size": 2},
        {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    path = tmp_path / "lenet.json"
    path.write_text(json.dumps(spec))
    out = run_cli("--model", str(path))
    assert out.returncode == 0, out.stderr
    assert f"Total number of parameters: {6 * 3 * 25 + 6 + 10 * 6 * 14 * 14 + 10:,}" in out.stdout


@pytest.mark.parametrize("layers, match", [
    ([{"type": "warp"}], "unknown layer type"),
    ([{"type": "linear", "out_features": 3}], "flatten"),
    ([{"type": "conv2d", "out_channels": 3, "kernel_size": 9}], "kernel_size"),
])
def test_bad_specs_are_reported(tmp_path, layers, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"input": [1, 4, 4], "layers": layers}))
    out = run_cli("--model", str(path))
    assert out.returncode == 2 and match in out.stderr
