"""``convinit experiment variance``: text 000's experiment on how the
variance of activations propagates through a deep network initialized with
He (or another) scheme, and text 004's backward (fan_out) counterpart.

Defaults reproduce the text: 10 dense layers alternating 5->10 and 10->5,
inputs 3*U(0,1), 100,000 trials, weights re-drawn from N(0, 2/m) (m the
layer's input width) for every trial, ReLU, no bias. The claims checked
(He et al. 2015, eqs. 5-10): E[a^2] of the last layer ~ E[x^2] of the
input, and Var(y) of the last pre-activation ~ 2 E[a^2] for ReLU.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .. import init

ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    # activation and its derivative (as a function of the pre-activation y)
    "relu": (lambda y: np.maximum(y, 0.0), lambda y: (y > 0).astype(y.dtype)),
    "tanh": (np.tanh, lambda y: 1.0 - np.tanh(y) ** 2),
    "sigmoid": (lambda y: 1.0 / (1.0 + np.exp(-y)), lambda y: np.exp(-y) / (1.0 + np.exp(-y)) ** 2),
}
INITS = ("he", "xavier", "normal", "torch")
# Trials per chunk: weights of a chunk are the chunk's slice of one logical
# (trials, m, n) tensor (flat_range), so chunking never changes a value.
CHUNK = 10_000


@dataclass
class Config:
    layers: int = 10
    widths: tuple[int, int] = (5, 10)
    trials: int = 100_000
    activation: str = "relu"
    bias: bool = False
    init: str = "he"
    std: float = 1.0  # for init="normal"
    mode: str = "fan_in"
    fixed_weights: bool = False
    backward: bool = False
    seed: int = 0


def weight_std(cfg: Config, fan_in: int, fan_out: int) -> float:
    """The std of N(0, std^2) weights, or the uniform bound's std for torch's default."""
    if cfg.init == "he":
        return math.sqrt(2.0 / (fan_in if cfg.mode == "fan_in" else fan_out))
    if cfg.init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if cfg.init == "normal":
        return cfg.std
    # torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std = bound/sqrt(3)
    return 1.0 / math.sqrt(3.0 * fan_in)


def _draw_weights(cfg: Config, layer: int, trials: range, fan_in: int, fan_out: int) -> np.ndarray:
    """Weights (trials, fan_in, fan_out) for trials[start:stop], or (1, m, n) if fixed."""
    seed = cfg.seed * 1_000 + layer + 1
    if cfg.fixed_weights:
        shape, flat = (1, fan_in, fan_out), None
    else:
        shape = (cfg.trials, fan_in, fan_out)
        flat = (trials.start * fan_in * fan_out, trials.stop * fan_in * fan_out)
    std = weight_std(cfg, fan_in, fan_out)
    if cfg.init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        w = init.uniform(shape, -bound, bound, seed=seed, dtype="float64", flat_range=flat)
    else:
        w = init.normal(shape, 0.0, std, seed=seed, dtype="float64", flat_range=flat)
    return w.reshape(-1, fan_in, fan_out)


def _draw_bias(cfg: Config, layer: int, trials: range, width: int) -> np.ndarray:
    """Text 000's bias: N(0, 2/num_layers), re-drawn per trial like the weights."""
    shape = (cfg.trials, width)
    flat = (trials.start * width, trials.stop * width)
    return init.normal(shape, 0.0, math.sqrt(2.0 / cfg.layers), seed=cfg.seed * 1_000 + 500 + layer,
                       dtype="float64", flat_range=flat).reshape(-1, width)


def _fans(cfg: Config, layer: int) -> tuple[int, int]:
    return cfg.widths[layer % 2], cfg.widths[(layer + 1) % 2]


@dataclass
class Sums:
    """Running sums over trials, per layer, for E[a^2], Var(y) and gradient variance."""

    a2: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    g2: np.ndarray
    x2: float = 0.0
    count: int = 0


def _chunk(cfg: Config, trials: range, sums: Sums) -> None:
    act, dact = ACTIVATIONS[cfg.activation]
    n = len(trials)
    x = 3.0 * init.uniform((cfg.trials, cfg.widths[0]), 0.0, 1.0, seed=cfg.seed * 1_000, dtype="float64",
                           flat_range=(trials.start * cfg.widths[0], trials.stop * cfg.widths[0]))
    x = x.reshape(n, cfg.widths[0])
    sums.x2 += float(np.sum(x * x))
    sums.count += n
    a, saved = x, []
    for layer in range(cfg.layers):
        fan_in, fan_out = _fans(cfg, layer)
        w = _draw_weights(cfg, layer, trials, fan_in, fan_out)
        y = np.einsum("tm,tmn->tn", a, np.broadcast_to(w, (n, fan_in, fan_out)))
        if cfg.bias:
            y += _draw_bias(cfg, layer, trials, fan_out)
        a = act(y)
        sums.a2[layer] += np.sum(a * a) / fan_out
        sums.y1[layer] += np.sum(y, axis=0).sum() / fan_out
        sums.y2[layer] += np.sum(y * y) / fan_out
        if cfg.backward:
            saved.append((w, y))
    if cfg.backward:
        # Unit-variance gradient at the last activations, pushed back through
        # each layer: g_x = (g_a * f'(y)) W^T. Var(g_x) is recorded per layer.
        g = init.normal((cfg.trials, a.shape[1]), 0.0, 1.0, seed=cfg.seed * 1_000 + 999, dtype="float64",
                        flat_range=(trials.start * a.shape[1], trials.stop * a.shape[1])).reshape(n, -1)
        for layer in reversed(range(cfg.layers)):
            w, y = saved[layer]
            g = np.einsum("tn,tmn->tm", g * dact(y), np.broadcast_to(w, (n, *w.shape[1:])))
            sums.g2[layer] += np.sum(g * g) / g.shape[1]


def check(cfg: Config) -> None:
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {cfg.activation!r}")
    if cfg.init not in INITS:
        raise ValueError(f"init: expected one of {', '.join(INITS)}, got {cfg.init!r}")
    if cfg.mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {cfg.mode!r}")
    if cfg.layers < 1 or cfg.trials < 2 or min(cfg.widths) < 1:
        raise ValueError("layers, widths must be >= 1 and trials >= 2")


def run_dense(cfg: Config) -> dict:
    check(cfg)
    zeros = lambda: np.zeros(cfg.layers)
    sums = Sums(zeros(), zeros(), zeros(), zeros())
    for start in range(0, cfg.trials, CHUNK):
        _chunk(cfg, range(start, min(start + CHUNK, cfg.trials)), sums)
    t = sums.count
    e_a2 = sums.a2 / t
    # Var(y) per unit averaged over units; means are pooled over units too,
    # which matches per-unit variances since every unit is alike.
    var_y = sums.y2 / t - (sums.y1 / t) ** 2
    layers = []
    for layer in range(cfg.layers):
        fan_in, fan_out = _fans(cfg, layer)
        record = {"layer": layer + 1, "fan_in": fan_in, "fan_out": fan_out,
                  "std": weight_std(cfg, fan_in, fan_out), "E_a2": float(e_a2[layer]), "Var_y": float(var_y[layer])}
        if cfg.backward:
            record["Var_grad"] = float(sums.g2[layer] / t)
        layers.append(record)
    result = {"config": asdict(cfg), "E_x2": sums.x2 / t / cfg.widths[0], "E_a2": layers[-1]["E_a2"],
              "Var_y": layers[-1]["Var_y"], "layers": layers}
    result["verdicts"] = verdicts(cfg, result)
    return result


CNN_IMAGE = 16  # CNN variant: images of 16x16 pixels
CNN_BATCH = 32  # images per network; each network draws its own weights


def run_cnn(cfg: Config) -> dict:
    """The same measurement on a deep CNN computed with ``convinit.conv2d``:
    3x3 convolutions (padding 1) alternating widths[0] and widths[1]
    channels, fans counted as channels * 9, one fresh network per
    ``CNN_BATCH`` images."""
    from ..conv import conv2d

    check(cfg)
    act = ACTIVATIONS[cfg.activation][0]
    networks = max(1, cfg.trials // CNN_BATCH)
    e_x2 = 0.0
    a2, y1, y2 = np.zeros(cfg.layers), np.zeros(cfg.layers), np.zeros(cfg.layers)
    for net in range(networks):
        seed = (cfg.seed * 1_000 + net) * 100
        a = 3.0 * init.uniform((CNN_BATCH, cfg.widths[0], CNN_IMAGE, CNN_IMAGE), 0.0, 1.0, seed=seed, dtype="float64")
        e_x2 += float(np.mean(a * a))
        for layer in range(cfg.layers):
            c_in, c_out = _fans(cfg, layer)
            std = weight_std(cfg, c_in * 9, c_out * 9)
            w = init.normal((c_out, c_in, 3, 3), 0.0, std, seed=seed + layer + 1, dtype="float64")
            y = conv2d(a, w, padding=1)
            a = act(y)
            a2[layer] += float(np.mean(a * a))
            y1[layer] += float(np.mean(y))
            y2[layer] += float(np.mean(y * y))
    a2, y1, y2, e_x2 = a2 / networks, y1 / networks, y2 / networks, e_x2 / networks
    layers = [{"layer": l + 1, "fan_in": _fans(cfg, l)[0] * 9, "fan_out": _fans(cfg, l)[1] * 9,
               "std": weight_std(cfg, _fans(cfg, l)[0] * 9, _fans(cfg, l)[1] * 9),
               "E_a2": float(a2[l]), "Var_y": float(y2[l] - y1[l] ** 2)} for l in range(cfg.layers)]
    result = {"config": {**asdict(cfg), "cnn": True, "networks": networks, "image": CNN_IMAGE},
              "E_x2": e_x2, "E_a2": layers[-1]["E_a2"], "Var_y": layers[-1]["Var_y"], "layers": layers}
    result["verdicts"] = verdicts(cfg, result)
    return result


def verdicts(cfg: Config, r: dict) -> list[dict]:
    """The text's claims, each with the measured ratio and whether it holds."""
    ratio_a = r["E_a2"] / r["E_x2"]
    out = [{"claim": "E[a^2] of the last layer ~ E[x^2] of the input", "ratio": ratio_a,
            "range": [0.8, 1.2], "holds": 0.8 <= ratio_a <= 1.2}]
    if cfg.activation == "relu":
        ratio_v = r["Var_y"] / (2 * r["E_a2"])
        out.append({"claim": "Var(y) ~ 2 E[a^2] (ReLU halves the variance)", "ratio": ratio_v,
                    "range": [0.85, 1.15], "holds": 0.85 <= ratio_v <= 1.15})
    if cfg.backward:
        grads = [l["Var_grad"] for l in r["layers"]]
        spread = max(grads) / min(grads)
        out.append({"claim": "gradient variance stays level across layers (max/min within 2x)", "ratio": spread,
                    "range": [1.0, 2.0], "holds": spread <= 2.0})
    return out


def render(r: dict) -> str:
    cfg = r["config"]
    kind = (f"{cfg['networks']} CNNs x {CNN_BATCH} images of {cfg['image']}x{cfg['image']}, {cfg['layers']} conv layers"
            if cfg.get("cnn") else f"{cfg['layers']} dense layers")
    lines = [f"{kind} {cfg['widths'][0]}<->{cfg['widths'][1]}, {cfg['trials']:,} trials, "
             f"{cfg['activation']}, init {cfg['init']} ({cfg['mode']}), bias {'on' if cfg['bias'] else 'off'}, "
             f"weights {'fixed' if cfg['fixed_weights'] else 're-drawn per trial'}",
             f"E[x^2] of the input: {r['E_x2']:.4f}",
             f"{'layer':>5} {'in->out':>8} {'w std':>8} {'E[a^2]':>10} {'Var(y)':>10}"
             + (f" {'Var(grad)':>10}" if cfg["backward"] else "")]
    for l in r["layers"]:
        line = f"{l['layer']:>5} {l['fan_in']:>3}->{l['fan_out']:<4} {l['std']:>8.4f} {l['E_a2']:>10.4f} {l['Var_y']:>10.4f}"
        if "Var_grad" in l:
            line += f" {l['Var_grad']:>10.4f}"
        lines.append(line)
    for v in r["verdicts"]:
        lines.append(f"{'HOLDS' if v['holds'] else 'FAILS'}: {v['claim']}: ratio {v['ratio']:.3f} "
                     f"(expected {v['range'][0]}..{v['range'][1]})")
    return "\n".join(lines)


def plot(r: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [l["layer"] for l in r["layers"]]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(layers, [l["E_a2"] for l in r["layers"]], "o-", label="E[a²] (activations)")
    ax.plot(layers, [l["Var_y"] for l in r["layers"]], "s-", label="Var(y) (pre-activations)")
    if "Var_grad" in r["layers"][0]:
        ax.plot(layers, [l["Var_grad"] for l in r["layers"]], "^-", label="Var(∂L/∂x) (backward)")
    ax.axhline(r["E_x2"], color="gray", ls="--", label="E[x²] of the input")
    cfg = r["config"]
    ax.set(xlabel="layer", ylabel="value", yscale="log",
           title=f"{cfg['activation']}, init {cfg['init']} ({cfg['mode']}), {cfg['trials']:,} trials")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(cfg: Config, cnn: bool = False, json_path: Optional[str] = None, plot_path: Optional[str] = None) -> dict:
    result = run_cnn(cfg) if cnn else run_dense(cfg)
    print(render(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    if plot_path:
        plot(result, plot_path)
    return result
