"""``convinit bench``: convinit side by side with PyTorch (and NumPy) in one
process, as medians of interleaved samples, with each rate also given as a
share of this machine's measured peak (an FMA-throughput probe for
convolution, a memory-write probe for fills).

Before each timed sample a backend runs untimed for a while: OpenBLAS's idle
workers spin for ~0.1 s after a call and OpenMP's and rayon's for less, and
would otherwise be timed against whoever runs next; the cores also never
idle, so no sample pays for a clock ramp-up. "cores busy" is the CPU time
per wall time of the timed calls: below the thread count, the machine was
shared and the sample is low. Compare ratios measured in the same run.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .suites import CONV2D_SUITE, Conv2dLayer

BACKENDS = ("convinit", "torch", "numpy", "scipy")


@dataclass
class Row:
    suite: str
    case: str
    backend: str
    seconds: float  # median per call
    rate: float  # GFLOP/s or G values/s
    unit: str
    cores_busy: float
    vs_torch: Optional[float] = None
    peak_share: Optional[float] = None


def _run_for(fn: Callable, seconds: float) -> tuple[int, float, float]:
    """Calls fn until `seconds` pass: (calls, wall seconds, CPU seconds)."""
    calls, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        wall = time.perf_counter() - t0
        if wall >= seconds:
            return calls, wall, time.process_time() - c0


def median_times(fns: dict, repeats: int, warmup: float = 0.15, sample: float = 0.1) -> dict:
    """{backend: (median seconds per call, median cores busy)}, interleaving
    the backends in every repeat so drifting load hits them alike."""
    seconds = {name: [] for name in fns}
    busy = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _run_for(fn, warmup)
            calls, wall, cpu = _run_for(fn, sample)
            seconds[name].append(wall / calls)
            busy[name].append(cpu / wall)
    return {name: (statistics.median(seconds[name]), statistics.median(busy[name])) for name in fns}


def numpy_im2col_conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """The textbook baseline: pad, gather all patches with stride tricks, one matmul."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    sn, sc, sh, sw = xp.strides
    patches = np.lib.stride_tricks.as_strided(xp, (n, oh, ow, c, k, k), (sn, sh * stride, sw * stride, sc, sh, sw),
                                              writeable=False)
    out = patches.reshape(n * oh * ow, c * k * k) @ w.reshape(o, -1).T
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def scipy_conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """What a SciPy user would write: one N-d correlation per (image, output
    channel) over all input channels (SciPy picks direct or FFT), then the
    stride applied by subsampling."""
    from scipy import signal

    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.stack([np.stack([signal.correlate(image, kernel, mode="valid")[0] for kernel in w]) for image in xp])
    return out[:, :, ::stride, ::stride]


def conv_cases(layer: Conv2dLayer, dtype: str, backward: bool, threads: int, vs: Sequence[str]) -> dict:
    """{backend: callable} for one layer: forward, or forward + input and weight gradients."""
    import torch

    from .backward import conv2d_backward
    from .conv import conv2d

    rng = np.random.default_rng(0)
    n, c, h, w, o, k, s, p = layer
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((o, c, k, k)) / math.sqrt(c * k * k)).astype(dtype)
    tx, tw = torch.from_numpy(x), torch.from_numpy(wt)
    if backward:
        tx.requires_grad_(), tw.requires_grad_()

        def torch_fn():
            y = torch.nn.functional.conv2d(tx, tw, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw), torch.ones_like(y))

        def convinit_fn():
            y = conv2d(x, wt, stride=s, padding=p, threads=threads)
            conv2d_backward(x, wt, np.ones_like(y), stride=s, padding=p, output_mask=(True, True, False),
                            threads=threads)

        return {"convinit": convinit_fn, "torch": torch_fn}

    def torch_fn():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, stride=s, padding=p)

    fns = {"convinit": lambda: conv2d(x, wt, stride=s, padding=p, threads=threads), "torch": torch_fn}
    if "numpy" in vs:
        fns["numpy"] = lambda: numpy_im2col_conv2d(x, wt, s, p)
    if "scipy" in vs:
        fns["scipy"] = lambda: scipy_conv2d(x, wt, s, p)
    return fns


def init_cases(size: int, vs: Sequence[str]) -> dict:
    """{fill: {backend: callable}} filling preallocated float32 buffers in place."""
    import torch

    from . import init
    from .random import Generator

    ours, theirs, np_out = np.empty(size, np.float32), torch.empty(size), np.empty(size, np.float32)
    gen, rng = Generator(0), np.random.default_rng(0)
    scipy_fills = _scipy_fills(size, rng) if "scipy" in vs else {}
    cases = {
        "uniform": {"convinit": lambda: init.uniform_(ours, -1.0, 1.0, generator=gen),
                    "torch": lambda: theirs.uniform_(-1.0, 1.0),
                    "numpy": lambda: rng.random(out=np_out, dtype=np.float32)},
        "normal": {"convinit": lambda: init.normal_(ours, 0.0, 0.02, generator=gen),
                   "torch": lambda: theirs.normal_(0.0, 0.02),
                   "numpy": lambda: rng.standard_normal(out=np_out, dtype=np.float32)},
        "trunc_normal": {"convinit": lambda: init.trunc_normal_(ours, 0.0, 1.0, -2.0, 2.0, generator=gen),
                         "torch": lambda: torch.nn.init.trunc_normal_(theirs, 0.0, 1.0, -2.0, 2.0)},
    }
    for fill, fn in scipy_fills.items():
        cases[fill]["scipy"] = fn
    return {fill: {b: fn for b, fn in fns.items() if b in ("convinit", "torch") or b in vs}
            for fill, fns in cases.items()}


def _scipy_fills(size: int, rng: np.random.Generator) -> dict:
    """scipy.stats' samplers (float64 draws, as SciPy offers no other)."""
    from scipy import stats

    return {"uniform": lambda: stats.uniform.rvs(-1.0, 2.0, size=size, random_state=rng),
            "normal": lambda: stats.norm.rvs(0.0, 0.02, size=size, random_state=rng),
            "trunc_normal": lambda: stats.truncnorm.rvs(-2.0, 2.0, size=size, random_state=rng)}


def probes(threads: int) -> dict:
    from . import _core

    return {"fma_gflops_f32": _core.fma_gflops(threads, 10_000_000),
            "write_gbps": _core.write_gbps(threads, 1 << 28, 4)}


def _rows(suite: str, case: str, measured: dict, work: float, unit: str, peak: Optional[float]) -> list[Row]:
    torch_seconds = measured.get("torch", (None,))[0]
    rows = []
    for backend, (seconds, busy) in measured.items():
        rate = work / seconds / 1e9
        rows.append(Row(suite, case, backend, seconds, rate, unit, busy,
                        torch_seconds / seconds if torch_seconds else None,
                        rate / peak if peak else None))
    return rows


def run(suites: Sequence[str] = ("conv", "init"), vs: Sequence[str] = ("torch", "numpy"), threads: int = 2,
        repeats: int = 11, dtype: str = "float32", backward: bool = False, size: int = 16 * 2**20,
        progress: Callable[[str], None] = lambda _: None) -> dict:
    """Measures and returns {"machine", "probes", "rows"} (a JSON-ready dict)."""
    os.environ.setdefault("RAYON_NUM_THREADS", str(threads))  # fills use rayon's global pool
    import torch

    from . import __version__

    torch.set_num_threads(threads)
    peak = probes(threads)
    rows: list[Row] = []
    if "conv" in suites:
        fma = peak["fma_gflops_f32"] / (2 if dtype == "float64" else 1)
        for name, layer in CONV2D_SUITE.items():
            progress(f"conv {name}")
            measured = median_times(conv_cases(layer, dtype, backward, threads, vs), repeats)
            rows += _rows("conv-backward" if backward else "conv", layer.label, measured,
                          layer.flops() * (3 if backward else 1), "GFLOP/s", fma)
    if "init" in suites:
        for fill, fns in init_cases(size, vs).items():
            progress(f"init {fill}")
            # A share of the write bandwidth: 4 bytes stored per float32 value.
            rows += _rows("init", fill, median_times(fns, repeats), size, "G values/s", peak["write_gbps"] / 4)
    machine = {"cpus": os.cpu_count(), "threads": threads, "dtype": dtype, "repeats": repeats,
               "convinit": __version__, "torch": torch.__version__, "numpy": np.__version__,
               "load_average": os.getloadavg()}
    return {"machine": machine, "probes": peak, "rows": [asdict(r) for r in rows]}


def render(report: dict, markdown: bool = False) -> str:
    """One line per case: convinit's time, rate and share of the peak, then
    each other backend's time and convinit's speed-up over it."""
    rows = report["rows"]
    others = list(dict.fromkeys(r["backend"] for r in rows if r["backend"] != "convinit"))
    headers = ["suite", "case", "convinit ms", "rate", "% of peak", "cores busy"]
    for other in others:
        headers += [f"{other} ms", f"vs {other}"]
    table = []
    for case in dict.fromkeys((r["suite"], r["case"]) for r in rows):
        by = {r["backend"]: r for r in rows if (r["suite"], r["case"]) == case}
        ours = by["convinit"]
        line = [case[0], case[1], f"{ours['seconds'] * 1e3:.3f}", f"{ours['rate']:.2f} {ours['unit']}",
                "-" if ours["peak_share"] is None else f"{ours['peak_share']:.0%}", f"{ours['cores_busy']:.2f}"]
        for other in others:
            theirs = by.get(other)
            line += ["-", "-"] if theirs is None else [f"{theirs['seconds'] * 1e3:.3f}",
                                                        f"{theirs['seconds'] / ours['seconds']:.2f}x"]
        table.append(line)
    p = report["probes"]
    head = (f"peak probes: {p['fma_gflops_f32']:.0f} GFLOP/s float32 FMA, {p['write_gbps']:.0f} GB/s memory write; "
            f"{report['machine']['threads']} threads; medians of {report['machine']['repeats']} interleaved samples")
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return head + "\n\n" + "\n".join(lines + ["| " + " | ".join(c) + " |" for c in table])
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(headers)]
    fmt = lambda vals: "  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    return head + "\n" + "\n".join([fmt(headers)] + [fmt(c) for c in table])


def summary(report: dict) -> str:
    """Geometric-mean speed-up of convinit over each other backend, per suite."""
    lines = []
    for suite in dict.fromkeys(r["suite"] for r in report["rows"]):
        rows = [r for r in report["rows"] if r["suite"] == suite]
        ours = {r["case"]: r["seconds"] for r in rows if r["backend"] == "convinit"}
        for other in dict.fromkeys(r["backend"] for r in rows if r["backend"] != "convinit"):
            ratios = [r["seconds"] / ours[r["case"]] for r in rows if r["backend"] == other]
            geo = math.exp(statistics.mean(math.log(v) for v in ratios))
            lines.append(f"{suite}: convinit is {geo:.2f}x {other} (geometric mean over {len(ratios)} cases, "
                         f"slowest case {min(ratios):.2f}x)")
    return "\n".join(lines)


def plot(report: dict, path) -> None:
    """Bars: convinit's speed-up over torch per case (1.0 = parity)."""
    from matplotlib.figure import Figure

    rows = [r for r in report["rows"] if r["backend"] == "convinit" and r["vs_torch"]]
    fig = Figure(figsize=(8, 0.35 * len(rows) + 1.5))
    ax = fig.subplots()
    labels = [f"{r['suite']}: {r['case']}" for r in rows]
    ratios = [r["vs_torch"] for r in rows]
    # Bars grow from parity (1.0) to the ratio, leftwards when slower.
    ax.barh(range(len(rows)), [v - 1 for v in ratios], left=1, color=["#4a4" if v >= 1 else "#c84" for v in ratios])
    ax.axvline(1.0, color="#333", ls="--")
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(ratios) / 1.25), max(2.0, max(ratios) * 1.4))
    # Labels sit right of the bar's outer end, or of parity for slower cases,
    # so they never run into the case names.
    for y, v in enumerate(ratios):
        ax.text(max(v, 1.0), y, f" {v:.2f}x", va="center", ha="left", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over PyTorch (log scale; > 1 is faster)")
    ax.set_title(f"convinit vs torch, {report['machine']['threads']} threads", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_json(report: dict, path) -> None:
    Path(path).write_text(json.dumps(report, indent=2))
