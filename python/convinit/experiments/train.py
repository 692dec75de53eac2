"""``convinit experiment train``: text 001's comparison of initializations
(zeros, N(0, 1), Xavier, He, torch's default) by test accuracy after
training, on scikit-learn's digits or on MNIST IDX files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .data import Split, load_digits, load_mnist

SCHEMES = ("zeros", "normal", "xavier_uniform", "kaiming_normal", "torch")


@dataclass
class Result:
    scheme: str
    test_accuracy: float
    curve: list[float] = field(default_factory=list)  # test accuracy after each epoch


def build_model(kind: str, image_shape: Sequence[int], classes: int = 10):
    """Text 001's MLP (input-256-256-10, ReLU) or text 003's CNN (with
    ``convinit.torch.Conv2d``)."""
    from torch import nn

    if kind == "mlp":
        features = int(np.prod(image_shape))
        return nn.Sequential(nn.Flatten(), nn.Linear(features, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, classes))
    if kind == "cnn":
        from ..torch import Conv2d

        c, h, w = image_shape
        return nn.Sequential(
            Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout2d(0.5),
            Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout2d(0.5),
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 32), nn.ReLU(), nn.Linear(32, classes),
        )
    raise ValueError(f"model: expected 'mlp' or 'cnn', got {kind!r}")


def initialize(model, scheme: str, seed: int) -> None:
    """Weights of every Linear/Conv2d by ``scheme`` with convinit's seeded
    fills (one seed per tensor), biases zero; ``torch`` keeps torch's default."""
    import torch

    from .. import init

    if scheme == "torch":
        return
    fills: dict[str, Callable] = {
        "zeros": lambda t, s: init.zeros_(t),
        "normal": lambda t, s: init.normal_(t, 0.0, 1.0, seed=s),
        "xavier_uniform": lambda t, s: init.xavier_uniform_(t, seed=s),
        "kaiming_normal": lambda t, s: init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", seed=s),
    }
    if scheme not in fills:
        raise ValueError(f"init: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    for index, layer in enumerate(layers):
        fills[scheme](layer.weight, seed + index)
        if layer.bias is not None:
            init.zeros_(layer.bias)


def _accuracy(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train_one(data: Split, model_kind: str, scheme: str, epochs: int, seed: int, batch_size: int = 64,
              progress: Optional[Callable[[str], None]] = None) -> Result:
    """Adam (lr 1e-3), cross-entropy, fixed seeds for model, init and batches."""
    import torch

    torch.manual_seed(seed)
    model = build_model(model_kind, data.train_x.shape[1:])
    initialize(model, scheme, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    tx, ty = torch.from_numpy(data.test_x), torch.from_numpy(data.test_y)
    order = torch.Generator().manual_seed(seed)
    curve = []
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(y), generator=order).split(batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
        curve.append(_accuracy(model, tx, ty))
        if progress:
            progress(f"{scheme}: epoch {epoch + 1}/{epochs}, test accuracy {curve[-1]:.4f}")
    return Result(scheme, curve[-1] if curve else _accuracy(model, tx, ty), curve)


def plot(results: list[Result], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        ax.plot(range(1, len(r.curve) + 1), r.curve, marker="o", ms=3, label=f"{r.scheme} ({r.test_accuracy:.3f})")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(schemes: Sequence[str] = SCHEMES, model: str = "mlp", data_dir: Optional[str] = None, epochs: int = 20,
        seed: int = 0, json_path: Optional[str] = None, plot_path: Optional[str] = None) -> list[Result]:
    data = load_mnist(data_dir) if data_dir else load_digits(seed)
    print(f"{data.name}: {len(data.train_y)} training and {len(data.test_y)} test images of shape "
          f"{data.train_x.shape[1:]}, model {model}, {epochs} epochs, Adam lr 1e-3")
    results = [train_one(data, model, s, epochs, seed, progress=lambda m: print("  " + m, flush=True))
               for s in schemes]
    print(f"\n{'init':<16}{'test accuracy':>14}")
    for r in results:
        print(f"{r.scheme:<16}{r.test_accuracy:>14.4f}")
    if json_path:
        Path(json_path).write_text(json.dumps({
            "dataset": data.name, "model": model, "epochs": epochs, "seed": seed,
            "results": {r.scheme: r.test_accuracy for r in results},
            "curves": {r.scheme: r.curve for r in results},
        }, indent=2))
    if plot_path:
        plot(results, plot_path, f"{data.name}, {model}: test accuracy by initialization")
    return results
