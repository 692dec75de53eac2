"""convinit experiment train: initialization schemes on the digits."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from convinit.experiments import train
from convinit.experiments.data import load_digits


def test_initialize_uses_each_schemes_formula():
    model = train.build_model("mlp", (1, 8, 8))
    train.initialize(model, "kaiming_normal", seed=0)
    first = model[1]
    assert torch.count_nonzero(first.bias) == 0
    # He normal: std = sqrt(2 / fan_in), fan_in = 64 (the weight is 64 x 256... as out x in)
    assert first.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    train.initialize(model, "xavier_uniform", seed=0)
    bound = math.sqrt(6 / (64 + 256))
    assert first.weight.abs().max().item() <= bound
    assert first.weight.abs().max().item() > 0.95 * bound
    train.initialize(model, "zeros", seed=0)
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_zero_init_cannot_learn_and_he_can():
    data = load_digits(0)
    zeros = train.train_one(data, "mlp", "zeros", epochs=3, seed=0)
    he = train.train_one(data, "mlp", "kaiming_normal", epochs=3, seed=0)
    assert zeros.test_accuracy < 0.2  # every unit stays identical
    assert he.test_accuracy > 0.9


def test_training_is_reproducible():
    data = load_digits(0)
    runs = [train.train_one(data, "mlp", "xavier_uniform", epochs=1, seed=4).curve for _ in range(2)]
    assert runs[0] == runs[1]


def test_cnn_model_uses_convinit_conv2d():
    from convinit.torch import Conv2d

    model = train.build_model("cnn", (1, 8, 8))
    assert sum(isinstance(m, Conv2d) for m in model.modules()) == 2
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_cli_json_and_plot(tmp_path):
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "train", "--epochs", "1",
                          "--init", "zeros", "torch", "--json", str(tmp_path / "t.json"),
                          "--plot", str(tmp_path / "t.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "t.json").read_text())
    assert set(data["results"]) == {"zeros", "torch"} and data["dataset"] == "digits"
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_cli_trains_on_mnist_idx_files(tmp_path):
    from convinit.experiments.data import write_idx

    rng = np.random.default_rng(0)
    for stem, n in [("train", 64), ("t10k", 16)]:
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "train", "--epochs", "1", "--init",
                          "kaiming_normal", "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mnist: 64 training and 16 test images of shape (1, 28, 28)")


def test_cli_rejects_unknown_scheme():
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "experiment", "train", "--init", "magic"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "magic" in out.stderr
