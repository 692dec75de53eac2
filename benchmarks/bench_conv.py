"""Side-by-side conv2d float32 forward timing: convinit vs torch vs a NumPy
im2col + matmul baseline, in one process, medians of interleaved repeats.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py [--backward] [--dtype float64]

(unset the two OpenBLAS variables in this command only: they slow NumPy).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

import convinit
from convinit.suites import CONV2D_SUITE

def numpy_im2col_conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """The textbook baseline: pad, gather all patches with stride tricks, one matmul."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    sn, sc, sh, sw = xp.strides
    patches = np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, c, k, k), (sn, sh * stride, sw * stride, sc, sh, sw), writeable=False
    )
    cols = patches.reshape(n * oh * ow, c * k * k)
    out = cols @ w.reshape(o, -1).T
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def _run_for(fn, seconds: float) -> tuple[int, float]:
    """Calls fn until `seconds` have passed; (calls, elapsed)."""
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return calls, elapsed


def median_times(fns: dict, repeats: int, warmup: float = 0.15, sample: float = 0.1) -> dict:
    """Interleaved repeats: each round times every backend once, so drift in
    machine load hits all of them alike. Before each sample the backend runs
    untimed for `warmup` seconds: the previous backend's idle worker threads
    (OpenBLAS spins for ~0.1 s after a call) stop competing, and the cores
    never idle (no clock ramp-up inside a sample)."""
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _run_for(fn, warmup)
            calls, elapsed = _run_for(fn, sample)
            samples[name].append(elapsed / calls)
    return {name: statistics.median(v) for name, v in samples.items()}


def forward_fns(x, wt, s, p, threads, with_numpy):
    import torch

    tx, tw = torch.from_numpy(x), torch.from_numpy(wt)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, stride=s, padding=p)

    fns = {"convinit": lambda: convinit.conv2d(x, wt, stride=s, padding=p, threads=threads), "torch": torch_forward}
    if with_numpy:
        fns["numpy"] = lambda: numpy_im2col_conv2d(x, wt, s, p)
    return fns


def forward_backward_fns(x, wt, s, p, threads):
    """One forward and the input and weight gradients, on each side."""
    import torch

    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(wt).requires_grad_()

    def torch_step():
        y = torch.nn.functional.conv2d(tx, tw, stride=s, padding=p)
        torch.autograd.grad(y, (tx, tw), torch.ones_like(y))

    def convinit_step():
        y = convinit.conv2d(x, wt, stride=s, padding=p, threads=threads)
        convinit.conv2d_backward(x, wt, np.ones_like(y), stride=s, padding=p, output_mask=(True, True, False),
                                 threads=threads)

    return {"convinit": convinit_step, "torch": torch_step}


def measure(case, dtype: str, threads: int, repeats: int, with_numpy: bool, backward: bool, rng) -> dict:
    n, c, h, w, o, k, s, p = case
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((o, c, k, k)) / math.sqrt(c * k * k)).astype(dtype)
    fns = forward_backward_fns(x, wt, s, p, threads) if backward else forward_fns(x, wt, s, p, threads, with_numpy)
    t = median_times(fns, repeats)
    flops = case.flops() * (3 if backward else 1)
    row = {"layer": case.label, "gflops": flops / t["convinit"] / 1e9}
    row.update({f"{name}_ms": v * 1e3 for name, v in t.items()})
    row.update({f"vs_{name}": v / t["convinit"] for name, v in t.items() if name != "convinit"})
    return row


COLUMNS = [  # (key, header, format)
    ("layer", "N,C,H,W -> O, k,s,p", "{}"),
    ("convinit_ms", "convinit ms", "{:.3f}"),
    ("gflops", "GFLOP/s", "{:.0f}"),
    ("torch_ms", "torch ms", "{:.3f}"),
    ("vs_torch", "vs torch", "{:.2f}x"),
    ("numpy_ms", "numpy ms", "{:.3f}"),
    ("vs_numpy", "vs numpy", "{:.2f}x"),
]


def render(rows: list, markdown: bool) -> str:
    cols = [c for c in COLUMNS if c[0] in rows[0]]
    cells = [[fmt.format(r[key]) for key, _, fmt in cols] for r in rows]
    headers = [h for _, h, _ in cols]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    fmt_row = lambda values: "  ".join(v.rjust(wd) if i else v.ljust(wd) for i, (v, wd) in enumerate(zip(values, widths)))
    return "\n".join([fmt_row(headers)] + [fmt_row(c) for c in cells])


def geomean(rows: list, key: str) -> float:
    return math.exp(statistics.mean(math.log(r[key]) for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy baseline")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--backward", action="store_true",
                        help="time forward + input and weight gradients (vs torch autograd)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with_numpy = not (args.no_numpy or args.backward)
    what = "forward + backward" if args.backward else "forward"
    print(f"conv2d {args.dtype} {what}, {args.threads} threads, median of {args.repeats} interleaved repeats")
    rows = [measure(case, args.dtype, args.threads, args.repeats, with_numpy, args.backward, rng)
            for case in CONV2D_SUITE.values()]
    print(render(rows, args.markdown))
    summary = f"geomean speed-up: {geomean(rows, 'vs_torch'):.2f}x torch"
    if with_numpy:
        summary += f", {geomean(rows, 'vs_numpy'):.2f}x numpy"
    print(summary)


if __name__ == "__main__":
    main()
