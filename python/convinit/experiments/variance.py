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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple, Optional

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


class Fills(NamedTuple):
    """The random fills the experiment draws from, with convinit's signature
    ``fill(shape, a, b, *, seed, dtype, flat_range)``; ``convinit verify``
    substitutes the backend's."""

    normal: Callable
    uniform: Callable


CONVINIT_FILLS = Fills(init.normal, init.uniform)


def adapt_fills(normal: Callable, uniform: Callable) -> Fills:
    """Fills of another implementation that take ``(shape, a, b, seed=)`` only:
    computed whole in float64, then sliced for ``flat_range``."""
    def adapt(fn: Callable) -> Callable:
        def call(shape, a, b, *, seed, dtype="float64", flat_range=None):
            full = np.asarray(fn(shape, a, b, seed=seed), dtype=np.float64).ravel()
            return full if flat_range is None else full[flat_range[0]:flat_range[1]]
        return call

    return Fills(adapt(normal), adapt(uniform))


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


def _draw_weights(cfg: Config, fills: Fills, layer: int, trials: range, fan_in: int, fan_out: int) -> np.ndarray:
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
        w = fills.uniform(shape, -bound, bound, seed=seed, dtype="float64", flat_range=flat)
    else:
        w = fills.normal(shape, 0.0, std, seed=seed, dtype="float64", flat_range=flat)
    return w.reshape(-1, fan_in, fan_out)


def _draw_bias(cfg: Config, fills: Fills, layer: int, trials: range, width: int) -> np.ndarray:
    """Text 000's bias: N(0, 2/num_layers), re-drawn per trial like the weights."""
    shape = (cfg.trials, width)
    flat = (trials.start * width, trials.stop * width)
    return fills.normal(shape, 0.0, math.sqrt(2.0 / cfg.layers), seed=cfg.seed * 1_000 + 500 + layer,
                        dtype="float64", flat_range=flat).reshape(-1, width)


def _fans(cfg: Config, layer: int) -> tuple[int, int]:
    return cfg.widths[layer % 2], cfg.widths[(layer + 1) % 2]


@dataclass
class Sums:
    """Running sums over trials, per layer, for E[a^2], Var(y) and gradient variance."""

    a2: np.ndarray
    a1: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    g2: np.ndarray
    x2: float = 0.0
    count: int = 0


def _chunk(cfg: Config, fills: Fills, trials: range, sums: Sums) -> None:
    act, dact = ACTIVATIONS[cfg.activation]
    n = len(trials)
    x = 3.0 * fills.uniform((cfg.trials, cfg.widths[0]), 0.0, 1.0, seed=cfg.seed * 1_000, dtype="float64",
                            flat_range=(trials.start * cfg.widths[0], trials.stop * cfg.widths[0]))
    x = x.reshape(n, cfg.widths[0])
    sums.x2 += float(np.sum(x * x))
    sums.count += n
    a, saved = x, []
    for layer in range(cfg.layers):
        fan_in, fan_out = _fans(cfg, layer)
        w = _draw_weights(cfg, fills, layer, trials, fan_in, fan_out)
        y = np.einsum("tm,tmn->tn", a, np.broadcast_to(w, (n, fan_in, fan_out)))
        if cfg.bias:
            y += _draw_bias(cfg, fills, layer, trials, fan_out)
        a = act(y)
        sums.a2[layer] += np.sum(a * a) / fan_out
        sums.a1[layer] += np.sum(a) / fan_out
        sums.y1[layer] += np.sum(y, axis=0).sum() / fan_out
        sums.y2[layer] += np.sum(y * y) / fan_out
        if cfg.backward:
            saved.append((w, y))
    if cfg.backward:
        # Unit-variance gradient at the last activations, pushed back through
        # each layer: g_x = (g_a * f'(y)) W^T. Var(g_x) is recorded per layer.
        g = fills.normal((cfg.trials, a.shape[1]), 0.0, 1.0, seed=cfg.seed * 1_000 + 999, dtype="float64",
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


def run_dense(cfg: Config, fills: Fills = CONVINIT_FILLS) -> dict:
    check(cfg)
    zeros = lambda: np.zeros(cfg.layers)
    sums = Sums(zeros(), zeros(), zeros(), zeros(), zeros())
    for start in range(0, cfg.trials, CHUNK):
        _chunk(cfg, fills, range(start, min(start + CHUNK, cfg.trials)), sums)
    t = sums.count
    e_a2 = sums.a2 / t
    # Var(y) per unit averaged over units; means are pooled over units too,
    # which matches per-unit variances since every unit is alike.
    var_y = sums.y2 / t - (sums.y1 / t) ** 2
    var_a = e_a2 - (sums.a1 / t) ** 2
    layers = []
    for layer in range(cfg.layers):
        fan_in, fan_out = _fans(cfg, layer)
        record = {"layer": layer + 1, "fan_in": fan_in, "fan_out": fan_out,
                  "std": weight_std(cfg, fan_in, fan_out), "E_a2": float(e_a2[layer]), "Var_a": float(var_a[layer]),
                  "Var_y": float(var_y[layer])}
        if cfg.backward:
            record["Var_grad"] = float(sums.g2[layer] / t)
        layers.append(record)
    result = {"config": asdict(cfg), "E_x2": sums.x2 / t / cfg.widths[0], "E_a2": layers[-1]["E_a2"],
              "Var_y": layers[-1]["Var_y"], "layers": layers}
    result["verdicts"] = verdicts(cfg, result)
    return result


CNN_IMAGE = 16  # CNN variant: images of 16x16 pixels
# Channels alternate 16 and 32: with all pixels of an image sharing its
# weights, each layer's gain averages over output channels only, and 5 or
# 10 channels leave the 10-layer product too heavy-tailed to estimate.
CNN_CHANNELS = (16, 32)
CNN_CHUNK = 256  # images per conv2d call
CNN_MAX_IMAGES = 4096


def run_cnn(cfg: Config, fills: Fills = CONVINIT_FILLS, conv2d: Optional[Callable] = None) -> dict:
    """The same measurement on a deep CNN computed with ``convinit.conv2d``:
    3x3 convolutions alternating ``CNN_CHANNELS``, fans counted as
    channels * 9. Weights are re-drawn for every image, as in the
    dense experiment: a chunk of images is one grouped convolution with a
    group (and its own weights) per image. Padding is circular so that every
    output sees its full fan-in (zero padding loses ~8% of the variance per
    layer at 16x16)."""
    if conv2d is None:
        from ..conv import conv2d as convinit_conv2d

        conv2d = convinit_conv2d
    check(cfg)
    cfg = replace(cfg, widths=CNN_CHANNELS)
    act = ACTIVATIONS[cfg.activation][0]
    images = min(cfg.trials, CNN_MAX_IMAGES)
    a2, a1, y1, y2 = (np.zeros(cfg.layers) for _ in range(4))
    e_x2 = 0.0
    for start in range(0, images, CNN_CHUNK):
        b = min(CNN_CHUNK, images - start)
        seed = (cfg.seed * 1_000 + start) * 100
        a = 3.0 * fills.uniform((1, b * cfg.widths[0], CNN_IMAGE, CNN_IMAGE), 0.0, 1.0, seed=seed, dtype="float64")
        a = a.reshape(1, b * cfg.widths[0], CNN_IMAGE, CNN_IMAGE)
        e_x2 += float(np.sum(a * a)) / (cfg.widths[0] * CNN_IMAGE**2)
        for layer in range(cfg.layers):
            c_in, c_out = _fans(cfg, layer)
            std = weight_std(cfg, c_in * 9, c_out * 9)
            w = fills.normal((b * c_out, c_in, 3, 3), 0.0, std, seed=seed + layer + 1, dtype="float64")
            y = np.asarray(conv2d(a, w.reshape(b * c_out, c_in, 3, 3), padding=1, padding_mode="circular", groups=b))
            a = act(y)
            per_unit = c_out * CNN_IMAGE**2
            a2[layer] += float(np.sum(a * a)) / per_unit
            a1[layer] += float(np.sum(a)) / per_unit
            y1[layer] += float(np.sum(y)) / per_unit
            y2[layer] += float(np.sum(y * y)) / per_unit
    a2, a1, y1, y2, e_x2 = a2 / images, a1 / images, y1 / images, y2 / images, e_x2 / images
    layers = [{"layer": l + 1, "fan_in": _fans(cfg, l)[0] * 9, "fan_out": _fans(cfg, l)[1] * 9,
               "std": weight_std(cfg, _fans(cfg, l)[0] * 9, _fans(cfg, l)[1] * 9),
               "E_a2": float(a2[l]), "Var_a": float(a2[l] - a1[l] ** 2), "Var_y": float(y2[l] - y1[l] ** 2)}
              for l in range(cfg.layers)]
    result = {"config": {**asdict(cfg), "cnn": True, "images": images, "image": CNN_IMAGE},
              "E_x2": e_x2, "E_a2": layers[-1]["E_a2"], "Var_y": layers[-1]["Var_y"], "layers": layers}
    result["verdicts"] = verdicts(cfg, result)
    return result


def verdicts(cfg: Config, r: dict) -> list[dict]:
    """The text's claims, each with the measured ratio and whether it holds."""
    ratio_a = r["E_a2"] / r["E_x2"]
    out = [{"claim": "E[a^2] of the last layer ~ E[x^2] of the input", "ratio": ratio_a,
            "range": [0.8, 1.2], "holds": 0.8 <= ratio_a <= 1.2}]
    last = r["layers"][-1]
    if "Var_a" in last:
        # A unit that carries information varies from input to input; one
        # that has collapsed to a constant has E[a^2] but no variance.
        spread = last["Var_a"] / last["E_a2"]
        out.append({"claim": "last-layer activations keep their spread (Var(a) >= E[a^2]/2, no collapse to a "
                             "constant)", "ratio": spread, "range": [0.5, 1.0], "holds": spread >= 0.5})
    if cfg.activation == "relu":
        ratio_v = r["Var_y"] / (2 * r["E_a2"])
        out.append({"claim": "Var(y) ~ 2 E[a^2] (ReLU halves the variance)", "ratio": ratio_v,
                    "range": [0.85, 1.15], "holds": 0.85 <= ratio_v <= 1.15})
    if cfg.backward:
        grads = [l["Var_grad"] for l in r["layers"]]
        spread = max(grads) / min(grads)
        out.append({"claim": "gradient variance stays level across layers (max/min within 2x; He with "
                             "fan_out preserves it, fan_in only when fan_in == fan_out)", "ratio": spread,
                    "range": [1.0, 2.0], "holds": spread <= 2.0})
    return out


def render(r: dict) -> str:
    cfg = r["config"]
    kind = (f"CNN of {cfg['layers']} 3x3 conv layers on {cfg['images']:,} images of {cfg['image']}x{cfg['image']}"
            if cfg.get("cnn") else f"{cfg['layers']} dense layers")
    lines = [f"{kind} {cfg['widths'][0]}<->{cfg['widths'][1]}, {cfg['trials']:,} trials, "
             f"{cfg['activation']}, init {cfg['init']} ({cfg['mode']}), bias {'on' if cfg['bias'] else 'off'}, "
             f"weights {'fixed' if cfg['fixed_weights'] else 're-drawn per trial'}",
             f"E[x^2] of the input: {r['E_x2']:.4f}",
             f"{'layer':>5} {'in->out':>8} {'w std':>8} {'E[a^2]':>10} {'Var(a)':>10} {'Var(y)':>10}"
             + (f" {'Var(grad)':>10}" if cfg["backward"] else "")]
    for l in r["layers"]:
        line = (f"{l['layer']:>5} {l['fan_in']:>3}->{l['fan_out']:<4} {l['std']:>8.4f} {l['E_a2']:>10.4f} "
                f"{l.get('Var_a', float('nan')):>10.4f} {l['Var_y']:>10.4f}")
        if "Var_grad" in l:
            line += f" {l['Var_grad']:>10.4f}"
        lines.append(line)
    for v in r["verdicts"]:
        lines.append(f"{'HOLDS' if v['holds'] else 'FAILS'}: {v['claim']}: ratio {v['ratio']:.3f} "
                     f"(expected {v['range'][0]}..{v['range'][1]})")
    return "\n".join(lines)


def figure(r: dict):
    """Per-layer E[a^2], Var(y) (and gradient variance) against E[x^2]."""
    from matplotlib.figure import Figure

    layers = [l["layer"] for l in r["layers"]]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    ax.plot(layers, [l["E_a2"] for l in r["layers"]], "o-", label="E[a²] (activations)")
    ax.plot(layers, [l["Var_y"] for l in r["layers"]], "s-", label="Var(y) (pre-activations)")
    if "Var_grad" in r["layers"][0]:
        ax.plot(layers, [l["Var_grad"] for l in r["layers"]], "^-", label="Var(∂L/∂x) (backward)")
    ax.axhline(r["E_x2"], color="gray", ls="--", label="E[x²] of the input")
    cfg = r["config"]
    values = [v for l in r["layers"] for k, v in l.items() if k in ("E_a2", "Var_y", "Var_grad")] + [r["E_x2"]]
    wide = max(values) / max(min(values), 1e-300) > 20
    kind = "CNN" if cfg.get("cnn") else "dense"
    ax.set(xlabel="layer", ylabel="value", yscale="log" if wide else "linear",
           title=f"{kind}, {cfg['activation']}, init {cfg['init']} ({cfg['mode']}), {cfg['trials']:,} trials")
    if not wide:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot(r: dict, path) -> None:
    figure(r).savefig(path, dpi=120)


def run(cfg: Config, cnn: bool = False, json_path: Optional[str] = None, plot_path: Optional[str] = None) -> dict:
    result = run_cnn(cfg) if cnn else run_dense(cfg)
    print(render(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    if plot_path:
        plot(result, plot_path)
    return result
