"""Depthwise layers: convinit vs torch, forward and backward, each library
timed in its own block (warm-up, 0.3 s pause, median of repeats), 2 threads.

    python tools/bench_depthwise.py [--repeats 25] [--batch 1 8] [--dtype float32] [--cpu-time]

--cpu-time: both libraries on one thread, timed in process CPU time (for a
machine so loaded that wall-clock times of spinning OpenMP threads mean little).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import convinit

# (network, channels, size, kernel, stride)
LAYERS = [
    ("mobilenet_v2", 32, 112, 3, 1),
    ("mobilenet_v2", 96, 112, 3, 2),
    ("mobilenet_v2", 144, 56, 3, 1),
    ("mobilenet_v2", 144, 56, 3, 2),
    ("mobilenet_v2", 192, 28, 3, 1),
    ("mobilenet_v2", 192, 28, 3, 2),
    ("mobilenet_v2", 384, 14, 3, 1),
    ("mobilenet_v2", 576, 14, 3, 1),
    ("mobilenet_v2", 576, 14, 3, 2),
    ("mobilenet_v2", 960, 7, 3, 1),
    ("efficientnet_b0", 240, 28, 5, 1),
    ("efficientnet_b0", 672, 14, 5, 2),
    ("efficientnet_b0", 1152, 7, 5, 1),
    ("convnext_t", 96, 56, 7, 1),
    ("convnext_t", 384, 14, 7, 1),
    ("convnext_t", 768, 7, 7, 1),
]


CLOCK = time.perf_counter


def median_ms(fn, repeats):
    for _ in range(3):
        fn()
    time.sleep(0.3)
    times = []
    for _ in range(repeats):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", default=None, help="substring of the layer name")
    ap.add_argument("--cpu-time", action="store_true")
    args = ap.parse_args()
    global CLOCK
    threads = 1 if args.cpu_time else 2
    if args.cpu_time:
        CLOCK = time.process_time
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"{'layer':34} {'fwd cv':>8} {'fwd th':>8} {'ratio':>6} {'bwd cv':>8} {'bwd th':>8} {'ratio':>6}")
    fwd_ratios, bwd_ratios = [], []
    for batch in args.batch:
        for net, c, size, k, s in LAYERS:
            name = f"{net} {c}@{size} k{k} s{s} n{batch}"
            if args.only and args.only not in name:
                continue
            p = k // 2
            x = rng.standard_normal((batch, c, size, size)).astype(args.dtype)
            w = rng.standard_normal((c, 1, k, k)).astype(args.dtype)
            out = (size + 2 * p - k) // s + 1
            dy = rng.standard_normal((batch, c, out, out)).astype(args.dtype)
            tx, tw, tdy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy)
            ref = F.conv2d(tx, tw, None, s, p, 1, c).numpy()
            got = convinit.conv2d(x, w, None, s, p, 1, c)
            assert np.allclose(got, ref, rtol=1e-4, atol=1e-4), name
            cv_f = median_ms(lambda: convinit.conv2d(x, w, None, s, p, 1, c, threads=threads), args.repeats)
            th_f = median_ms(lambda: F.conv2d(tx, tw, None, s, p, 1, c), args.repeats)
            cv_b = median_ms(lambda: convinit.conv2d_backward(x, w, dy, s, p, 1, c, (True, True, False), threads=threads), args.repeats)
            th_b = median_ms(
                lambda: torch.ops.aten.convolution_backward(
                    tdy, tx, tw, None, [s, s], [p, p], [1, 1], False, [0, 0], c, [True, True, False]
                ),
                args.repeats,
            )
            fwd_ratios.append(th_f / cv_f)
            bwd_ratios.append(th_b / cv_b)
            print(f"{name:34} {cv_f:8.3f} {th_f:8.3f} {th_f / cv_f:6.2f} {cv_b:8.3f} {th_b:8.3f} {th_b / cv_b:6.2f}", flush=True)
    gm = lambda r: float(np.exp(np.mean(np.log(r))))
    print(f"geomean speed-up vs torch: forward {gm(fwd_ratios):.2f}x (min {min(fwd_ratios):.2f}), "
          f"backward {gm(bwd_ratios):.2f}x (min {min(bwd_ratios):.2f})")


if __name__ == "__main__":
    main()
