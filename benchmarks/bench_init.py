"""Seeded fills, convinit vs torch (and NumPy), side by side in one process.

    RAYON_NUM_THREADS=2 python benchmarks/bench_init.py [--size 16777216] [--repeats 15] [--numpy]

Each backend fills a preallocated float32 buffer in place (torch:
``Tensor.uniform_/normal_`` and ``torch.nn.init.trunc_normal_``; convinit:
``convinit.init.uniform_/normal_/trunc_normal_``; NumPy: ``Generator.random/
standard_normal`` with ``out=``). Repeats are interleaved across backends;
each sample is a run of back-to-back calls lasting >= 20 ms (time per call
reported), right after an untimed call of the same backend (so the other
library's spinning worker threads have settled). The table shows medians,
G values/s, the ratio to torch, and "cores busy", the CPU time per wall time
of the timed calls: below the thread count, the machine was shared and the
numbers are low. Both libraries get the same thread count (``--threads``,
default 2). To compare against NumPy fairly, unset OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for that command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=16 * 2**20, help="values per fill (default 16M)")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--numpy", action="store_true", help="add NumPy's Generator (single-threaded)")
    return p.parse_args()


def _calls_per_sample(fill) -> int:
    """Back-to-back calls per timed sample, so that a sample lasts >= 20 ms
    (a lone millisecond-scale call mostly measures how fast idle cores wake)."""
    fill()  # warm up: pages touched, pools started
    start = time.perf_counter()
    fill()
    return max(1, round(0.02 / (time.perf_counter() - start)))


def main() -> None:
    args = parse()
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch

    import convinit
    from convinit import init

    torch.set_num_threads(args.threads)
    n = args.size
    ours = np.empty(n, dtype=np.float32)
    theirs = torch.empty(n, dtype=torch.float32)
    np_out = np.empty(n, dtype=np.float32)
    rng = np.random.default_rng(0)
    gen = convinit.Generator(0)
    cases = {
        "uniform": {
            "convinit": lambda: init.uniform_(ours, -1.0, 1.0, generator=gen),
            "torch": lambda: theirs.uniform_(-1.0, 1.0),
            "numpy": lambda: rng.random(out=np_out, dtype=np.float32),
        },
        "normal": {
            "convinit": lambda: init.normal_(ours, 0.0, 0.02, generator=gen),
            "torch": lambda: theirs.normal_(0.0, 0.02),
            "numpy": lambda: rng.standard_normal(out=np_out, dtype=np.float32),
        },
        "trunc_normal": {
            "convinit": lambda: init.trunc_normal_(ours, 0.0, 1.0, -2.0, 2.0, generator=gen),
            "torch": lambda: torch.nn.init.trunc_normal_(theirs, 0.0, 1.0, -2.0, 2.0),
        },
    }
    backends = ["convinit", "torch"] + (["numpy"] if args.numpy else [])
    print(f"float32 fills of {n:,} values, {args.threads} threads, in place, median of {args.repeats} interleaved samples")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"convinit SIMD path: {convinit._core.simd_backend()}, torch {torch.__version__}, numpy {np.__version__}; "
          f"load average before: {load}")
    header = f"| {'fill':<13}| {'backend':<9}| {'ms per call':>11} | {'G values/s':>10} | {'vs torch':>8} | {'cores busy':>10} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, fills in cases.items():
        times: dict[str, list[float]] = {b: [] for b in backends if b in fills}
        busy: dict[str, list[float]] = {b: [] for b in times}
        calls = {backend: _calls_per_sample(fills[backend]) for backend in times}
        for _ in range(args.repeats):
            for backend in times:
                # An untimed call first: the other library's worker threads
                # spin for a while after their own call, and would be timed.
                fills[backend]()
                start, cpu = time.perf_counter(), time.process_time()
                for _ in range(calls[backend]):
                    fills[backend]()
                wall = time.perf_counter() - start
                times[backend].append(wall / calls[backend])
                busy[backend].append((time.process_time() - cpu) / wall)
        medians = {b: statistics.median(t) for b, t in times.items()}
        for backend, median in medians.items():
            ratio = medians["torch"] / median
            cores = statistics.median(busy[backend])
            print(f"| {name:<13}| {backend:<9}| {median * 1e3:>11.2f} | {n / median / 1e9:>10.2f} | {ratio:>7.1f}x | {cores:>10.2f} |")


if __name__ == "__main__":
    main()
