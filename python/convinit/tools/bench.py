"""``convinit bench``: convinit side by side with PyTorch (and NumPy) in one
process, each rate also given as a share of this machine's measured peak (an
FMA-throughput probe for convolution, a memory-write probe for fills).

Every library is timed in its own block, never call by call against the
other: a 0.3 s pause (so the worker threads the previous block left
spinning, OpenMP's, OpenBLAS's or rayon's, park and free the cores), an
untimed warm-up, then the median of repeated samples, each sample as many
calls as fit in 50 ms (at least one). The blocks run in several rounds,
the libraries' order turning each round, and a library's time is the
median of its rounds: on a shared machine a burst of someone else's work
then spoils one round of one library, not the ratio. "cores busy" is the CPU time per wall
time of the timed calls: below the thread count, the machine was shared
and the sample is low. Compare ratios measured in the same run.

``--suite NAME`` picks the layers (``convinit.tools.layers``): readme, resnet18,
mobilenet_v2, more, depthwise, or all (= resnet18 + mobilenet_v2 + more).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .._imports import interrupts_held
from .layers import SUITE_NAMES, ConvLayer, suite_layers

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
    shape: str = ""
    round_seconds: list = field(default_factory=list)  # each round's median per call
    vs_torch_rounds: list = field(default_factory=list)  # torch's / this backend's time, round by round


@dataclass
class Timing:
    """How each library's block is timed."""

    repeats: int = 11
    rounds: int = 1  # blocks per library, alternating with the others'
    pause: float = 0.3  # seconds idle before a block
    warmup: float = 0.1  # seconds of untimed calls
    sample: float = 0.05  # seconds of calls per timed sample


def _run_for(fn: Callable, seconds: float) -> tuple[int, float, float]:
    """Calls fn until `seconds` pass: (calls, wall seconds, CPU seconds)."""
    calls, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        calls += 1
        wall = time.perf_counter() - t0
        if wall >= seconds:
            return calls, wall, time.process_time() - c0


def time_block(fn: Callable, timing: Timing) -> tuple[float, float]:
    """(median seconds per call, median cores busy) of one library's block."""
    time.sleep(timing.pause)
    _run_for(fn, timing.warmup)
    seconds, busy = [], []
    for _ in range(timing.repeats):
        calls, wall, cpu = _run_for(fn, timing.sample)
        seconds.append(wall / calls)
        busy.append(cpu / wall)
    return statistics.median(seconds), statistics.median(busy)


def median_times(fns: dict, timing: Timing) -> dict:
    """{backend: (median seconds per call, median cores busy, each round's
    seconds)}: one block per backend and round, the order turning by one
    each round, and the median over the rounds."""
    names = list(fns)
    blocks: dict = {name: [] for name in names}
    for r in range(timing.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            blocks[name].append(time_block(fns[name], timing))
    return {name: (statistics.median(t for t, _ in runs), statistics.median(b for _, b in runs), [t for t, _ in runs])
            for name, runs in blocks.items()}


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


def accepts_keyword(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def algorithm_kwargs(fn: Callable, algorithm: str) -> dict:
    """``{"algorithm": algorithm}`` if this build's ``fn`` takes that keyword;
    ``{}`` for "auto" otherwise (builds from before the keyword existed)."""
    if accepts_keyword(fn, "algorithm"):
        return {"algorithm": algorithm}
    if algorithm != "auto":
        raise ValueError(f"algorithm: this build's {fn.__name__} has no algorithm= keyword, only 'auto' can be timed")
    return {}


def check_algorithm(algorithm: str) -> None:
    """ValueError unless this build's conv2d takes ``algorithm`` (every build takes "auto")."""
    from ..conv import conv2d

    algorithm_kwargs(conv2d, algorithm)


def _runs(call: Callable) -> Optional[str]:
    """None if ``call()`` runs, else the ValueError's message (an algorithm
    that does not apply to a layer)."""
    try:
        call()
    except ValueError as exc:
        return str(exc)
    return None


def layer_arrays(layer: ConvLayer, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded input and weight, the weight scaled so outputs stay O(1)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer.input_shape, dtype=np.float32).astype(dtype)
    fan_in = math.prod(layer.weight_shape[1:])
    w = (rng.standard_normal(layer.weight_shape, dtype=np.float32) / math.sqrt(fan_in)).astype(dtype)
    return x, w


def _geometry(layer: ConvLayer) -> dict:
    return {"stride": layer.stride, "padding": layer.padding, "groups": layer.groups}


def convinit_forward(layer: ConvLayer, threads: int, algorithm: str = "auto") -> Callable:
    """``f(x, w)``: convinit's conv{1,2,3}d for this layer."""
    from .. import conv

    fn = getattr(conv, f"conv{layer.dims}d")
    kwargs = {**_geometry(layer), "threads": threads, **algorithm_kwargs(fn, algorithm)}
    return lambda x, w: fn(x, w, **kwargs)


def convinit_backward(layer: ConvLayer, threads: int, algorithm: str = "auto") -> Optional[Callable]:
    """``f(x, w, dy)`` -> (grad_input, grad_weight): convinit's
    conv{1,2,3}d_backward, or None for an older build without it (only
    conv2d_backward existed at first)."""
    import convinit

    fn = getattr(convinit, f"conv{layer.dims}d_backward", None)
    if fn is None:
        return None
    kwargs = {**_geometry(layer), "threads": threads, **algorithm_kwargs(fn, algorithm)}
    return lambda x, w, dy: fn(x, w, dy, output_mask=(True, True, False), **kwargs)[:2]


def _numpy_baselines(layer: ConvLayer, x: np.ndarray, w: np.ndarray, vs: Sequence[str]) -> dict:
    """NumPy's and SciPy's baselines, for the square 2-D ungrouped layers they support."""
    square = len(set(layer.stride)) == 1 and len(set(layer.padding)) == 1
    if layer.dims != 2 or layer.groups != 1 or not square:
        return {}
    s, p = layer.stride[0], layer.padding[0]
    fns = {"numpy": lambda: numpy_im2col_conv2d(x, w, s, p), "scipy": lambda: scipy_conv2d(x, w, s, p)}
    return {name: fn for name, fn in fns.items() if name in vs}


def conv_cases(layer: ConvLayer, dtype: str, backward: bool, threads: int, vs: Sequence[str] = (),
               algorithm: str = "auto") -> dict:
    """{backend: callable} for one layer: forward, or forward + input and
    weight gradients (against torch autograd). Empty when this build has
    no backward for the layer."""
    import torch

    x, w = layer_arrays(layer, dtype)
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    torch_conv = getattr(torch.nn.functional, f"conv{layer.dims}d")
    geometry = _geometry(layer)
    forward = convinit_forward(layer, threads, algorithm)
    if backward:
        gradients = convinit_backward(layer, threads, algorithm)
        if gradients is None:
            return {}
        tx.requires_grad_(), tw.requires_grad_()

        def torch_fn():
            y = torch_conv(tx, tw, **geometry)
            torch.autograd.grad(y, (tx, tw), torch.ones_like(y))

        def convinit_fn():
            y = forward(x, w)
            gradients(x, w, np.ones_like(y))

        return {"convinit": convinit_fn, "torch": torch_fn}

    def torch_fn():
        with torch.no_grad():
            torch_conv(tx, tw, **geometry)

    return {"convinit": lambda: forward(x, w), "torch": torch_fn, **_numpy_baselines(layer, x, w, vs)}


def init_cases(size: int, vs: Sequence[str]) -> dict:
    """{fill: {backend: callable}} filling preallocated float32 buffers in place."""
    import torch

    from .. import init
    from ..random import Generator

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


def settle_allocator() -> None:
    """Frees one 32 MB block, as any long-running process has done. Until
    glibc has freed a large mapped block it returns freed memory to the
    system eagerly (128 KiB thresholds), so an output of a few MB is
    page-faulted afresh in every call; freeing one raises its mmap and trim
    thresholds and later outputs reuse heap memory. Without this the
    result depends on which layers ran first: torch's 7x7 stem (4 x 3 x
    112x112) measured 2.5-2.8 ms per call cold, 0.9 ms after."""
    block = np.ones(4_000_000)
    del block


def probes(threads: int) -> dict:
    from .. import _core

    return {"fma_gflops_f32": _core.fma_gflops(threads, 10_000_000),
            "write_gbps": _core.write_gbps(threads, 1 << 28, 4)}


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo, else the platform's
    processor string), for naming the machine beside every figure."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _rows(suite: str, case: str, measured: dict, work: float, unit: str, peak: Optional[float],
          shape: str = "") -> list[Row]:
    torch_seconds, _, torch_rounds = measured.get("torch", (None, None, []))
    rows = []
    for backend, (seconds, busy, rounds) in measured.items():
        rate = work / seconds / 1e9
        # Round r's ratio pairs the two libraries' blocks of that round.
        paired = [t / s for t, s in zip(torch_rounds, rounds)]
        rows.append(Row(suite, case, backend, seconds, rate, unit, busy,
                        torch_seconds / seconds if torch_seconds else None,
                        rate / peak if peak else None, shape, rounds, paired))
    return rows


def conv_rows(suite: str, vs: Sequence[str], threads: int, timing: Timing, dtype: str, backward: bool,
              algorithm: str, fma_gflops: float, progress: Callable[[str], None]) -> list[Row]:
    """Rows of every layer of a suite (or of each suite of a group)."""
    peak = fma_gflops / (2 if dtype == "float64" else 1)
    rows: list[Row] = []
    for part, layers in suite_layers(suite).items():
        label = f"{part} fwd+bwd" if backward else part
        for name, layer in layers.items():
            cases = conv_cases(layer, dtype, backward, threads, vs, algorithm)
            if not cases:
                progress(f"{part} {name}: skipped, this build has no conv{layer.dims}d backward")
                continue
            refused = None if algorithm == "auto" else _runs(cases["convinit"])
            if refused:
                progress(f"{part} {name}: skipped, {refused}")
                continue
            progress(f"{part} {name}")
            # Backward adds grad_input and grad_weight, each as many FLOPs as the forward.
            work = layer.flops() * (3 if backward else 1)
            rows += _rows(label, name, median_times(cases, timing), work, "GFLOP/s", peak, layer.label)
    return rows


def run(suites: Sequence[str] = ("conv", "init"), vs: Sequence[str] = ("torch", "numpy"), threads: int = 2,
        repeats: int = 11, dtype: str = "float32", backward: bool = False, size: int = 16 * 2**20,
        progress: Callable[[str], None] = lambda _: None, suite: str = "readme", algorithm: str = "auto",
        timing: Optional[Timing] = None, rounds: int = 1) -> dict:
    """Measures and returns {"machine", "probes", "rows"} (a JSON-ready dict).
    ``suites`` picks conv and/or init; ``suite`` the conv layers."""
    os.environ.setdefault("RAYON_NUM_THREADS", str(threads))  # fills use rayon's global pool
    with interrupts_held():
        import torch

    from .. import __version__

    if suite not in SUITE_NAMES:
        raise ValueError(f"suite: expected one of {', '.join(SUITE_NAMES)}, got {suite!r}")
    timing = timing or Timing(repeats=repeats, rounds=rounds)
    torch.set_num_threads(threads)
    settle_allocator()
    peak = probes(threads)
    rows: list[Row] = []
    if "conv" in suites:
        rows += conv_rows(suite, vs, threads, timing, dtype, backward, algorithm, peak["fma_gflops_f32"], progress)
    if "init" in suites:
        for fill, fns in init_cases(size, vs).items():
            progress(f"init {fill}")
            # A share of the write bandwidth: 4 bytes stored per float32 value.
            rows += _rows("init", fill, median_times(fns, timing), size, "G values/s", peak["write_gbps"] / 4)
    from .. import _core

    machine = {"cpu": cpu_model(), "tiles": _core.conv_tiles(),
               "cpus": os.cpu_count(), "threads": threads, "dtype": dtype, "repeats": timing.repeats,
               "rounds": timing.rounds,
               "timing": asdict(timing), "suite": suite, "algorithm": algorithm,
               "convinit": __version__, "torch": torch.__version__, "numpy": np.__version__,
               "load_average": os.getloadavg()}
    return {"machine": machine, "probes": peak, "rows": [asdict(r) for r in rows]}


def render(report: dict, markdown: bool = False) -> str:
    """One line per case: its shape, convinit's time, rate and share of the
    peak, then each other backend's time and convinit's speed-up over it."""
    rows = report["rows"]
    others = list(dict.fromkeys(r["backend"] for r in rows if r["backend"] != "convinit"))
    headers = ["suite", "case", "shape", "convinit ms", "rate", "% of peak", "cores busy"]
    for other in others:
        headers += [f"{other} ms", f"vs {other}"]
    table = []
    for case in dict.fromkeys((r["suite"], r["case"]) for r in rows):
        by = {r["backend"]: r for r in rows if (r["suite"], r["case"]) == case}
        ours = by["convinit"]
        line = [case[0], case[1], ours.get("shape", ""), f"{ours['seconds'] * 1e3:.3f}",
                f"{ours['rate']:.2f} {ours['unit']}",
                "-" if ours["peak_share"] is None else f"{ours['peak_share']:.0%}", f"{ours['cores_busy']:.2f}"]
        for other in others:
            theirs = by.get(other)
            line += ["-", "-"] if theirs is None else [f"{theirs['seconds'] * 1e3:.3f}",
                                                        f"{theirs['seconds'] / ours['seconds']:.2f}x"
                                                        + _round_range(ours, other)]
        table.append(line)
    p, machine = report["probes"], report["machine"]
    cpu = f"{machine['cpu']}, {machine['tiles']} tiles; " if "cpu" in machine else ""
    head = (f"{cpu}peak probes: {p['fma_gflops_f32']:.0f} GFLOP/s float32 FMA, {p['write_gbps']:.0f} GB/s memory write; "
            f"{machine['threads']} threads; {machine['dtype']}; each library in its own block, "
            f"median of {machine['repeats']} samples{_rounds(machine)}")
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return head + "\n\n" + "\n".join(lines + ["| " + " | ".join(c) + " |" for c in table])
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(headers)]
    fmt = lambda vals: "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    return head + "\n" + "\n".join([fmt(headers)] + [fmt(c) for c in table])


def _round_range(row: dict, other: str) -> str:
    """" (lo-hi)": the lowest and highest of the rounds' ratios over torch,
    when there are several rounds (empty otherwise)."""
    ratios = row.get("vs_torch_rounds") or []
    if other != "torch" or len(ratios) < 2:
        return ""
    return f" ({min(ratios):.2f}-{max(ratios):.2f})"


def _rounds(machine: dict) -> str:
    rounds = machine.get("rounds", 1)
    return f", median of {rounds} alternating rounds" if rounds > 1 else ""


def _speedups(rows: list[dict], other: str) -> dict:
    """{(suite, case): convinit's speed-up over ``other``}."""
    ours = {(r["suite"], r["case"]): r["seconds"] for r in rows if r["backend"] == "convinit"}
    return {(r["suite"], r["case"]): r["seconds"] / ours[(r["suite"], r["case"])]
            for r in rows if r["backend"] == other}


def _summary_line(name: str, other: str, ratios: dict, ranges: dict) -> str:
    geo = math.exp(statistics.mean(math.log(v) for v in ratios.values()))
    (suite, case), slowest = min(ratios.items(), key=lambda item: item[1])
    where = case if suite == name else f"{suite}: {case}"
    return (f"{name}: convinit is {geo:.2f}x {other} (geometric mean over {len(ratios)} cases; "
            f"slowest {where} at {slowest:.2f}x{ranges.get((suite, case), '')})")


def summary(report: dict) -> str:
    """Geometric-mean speed-up of convinit over each other backend and the
    slowest case, per suite, and over all conv suites when there are several."""
    rows = report["rows"]
    others = list(dict.fromkeys(r["backend"] for r in rows if r["backend"] != "convinit"))
    lines = []
    for other in others:
        ratios = _speedups(rows, other)
        ranges = {(r["suite"], r["case"]): _round_range(r, other) for r in rows if r["backend"] == "convinit"}
        suites = list(dict.fromkeys(suite for suite, _ in ratios))
        for suite in suites:
            lines.append(_summary_line(suite, other, {k: v for k, v in ratios.items() if k[0] == suite}, ranges))
        conv = {k: v for k, v in ratios.items() if k[0] != "init"}
        if len({suite for suite, _ in conv}) > 1:
            lines.append(_summary_line(report["machine"].get("suite", "conv"), other, conv, ranges))
    return "\n".join(lines)


def plot(report: dict, path) -> None:
    """Bars: convinit's speed-up over torch per case (1.0 = parity), with
    whiskers spanning the rounds' ratios."""
    from matplotlib.figure import Figure

    rows = [r for r in report["rows"] if r["backend"] == "convinit" and r["vs_torch"]]
    fig = Figure(figsize=(8, 0.35 * len(rows) + 1.5))
    ax = fig.subplots()
    labels = [f"{r['suite']}: {r['case']}" for r in rows]
    ratios = [r["vs_torch"] for r in rows]
    # Bars grow from parity (1.0) to the ratio, leftwards when slower.
    ax.barh(range(len(rows)), [v - 1 for v in ratios], left=1, color=["#4a4" if v >= 1 else "#c84" for v in ratios])
    # Whiskers: the lowest and highest of the rounds' ratios (how much the
    # machine's noise moved this case in this run), widened to the bar's
    # ratio where an even number of rounds puts it outside them.
    rounds = [r.get("vs_torch_rounds") or [v] for r, v in zip(rows, ratios)]
    spans = [(min(*each, v), max(*each, v)) for each, v in zip(rounds, ratios)]
    ax.errorbar(ratios, range(len(rows)), xerr=[[v - lo for v, (lo, _) in zip(ratios, spans)],
                                                [hi - v for v, (_, hi) in zip(ratios, spans)]],
                fmt="none", ecolor="#333", elinewidth=0.8, capsize=2)
    ax.axvline(1.0, color="#333", ls="--")
    ax.set_xscale("log")
    lowest, highest = min(lo for lo, _ in spans), max(hi for _, hi in spans)
    ax.set_xlim(min(0.5, lowest / 1.25), max(2.0, highest * 1.4))
    # Labels sit right of the bar's (or whisker's) outer end, or of parity
    # for slower cases, so they never run into the case names.
    for y, (v, (_, hi)) in enumerate(zip(ratios, spans)):
        ax.text(max(v, hi, 1.0), y, f" {v:.2f}x", va="center", ha="left", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over PyTorch (log scale; > 1 is faster; whiskers: lowest and highest round)")
    ax.set_title(f"convinit vs torch, {report['machine']['threads']} threads", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_json(report: dict, path) -> None:
    Path(path).write_text(json.dumps(report, indent=2))
