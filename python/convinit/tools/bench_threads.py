"""``convinit bench threads``: how much faster several Python threads get
through a batch of single-threaded convinit calls than one thread does.

Each call runs on one worker (``threads=1``) and releases the GIL while it
computes, so on a machine with C free cores the batch should go up to C
times faster on C or more Python threads. The figure is the median, over
several repeats, of sequential time / concurrent time for the same calls.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

import convinit


def _calls(count: int) -> list[Callable[[], object]]:
    """``count`` conv2d calls of a few milliseconds each, on distinct inputs.
    (A batch of well over 100 ms: shorter batches make the ratio jumpy.)"""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    inputs = [rng.standard_normal((1, 64, 56, 56)).astype(np.float32) for _ in range(count)]
    return [lambda x=x: convinit.conv2d(x, w, padding=1, threads=1) for x in inputs]


def _sequential(calls: list[Callable[[], object]]) -> float:
    start = time.perf_counter()
    for call in calls:
        call()
    return time.perf_counter() - start


def _concurrent(calls: list[Callable[[], object]], pool: ThreadPoolExecutor) -> float:
    start = time.perf_counter()
    for future in [pool.submit(call) for call in calls]:
        future.result()
    return time.perf_counter() - start


def speedup(python_threads: int = 8, calls_per_thread: int = 24, repeats: int = 7) -> dict:
    """Median sequential and concurrent seconds for the same batch, and their ratio."""
    calls = _calls(python_threads * calls_per_thread)
    sequential, concurrent = [], []
    with ThreadPoolExecutor(python_threads) as pool:
        _concurrent(calls, pool)  # warm-up: threads, pages, caches
        for _ in range(repeats):
            sequential.append(_sequential(calls))
            concurrent.append(_concurrent(calls, pool))
    seq, conc = statistics.median(sequential), statistics.median(concurrent)
    return {"python_threads": python_threads, "calls": len(calls), "repeats": repeats, "cores": os.cpu_count(),
            "sequential_s": seq, "concurrent_s": conc, "speedup": seq / conc}


def render(result: dict) -> str:
    return (f"{result['calls']} conv2d calls (threads=1 each) on {result['python_threads']} Python threads vs one, "
            f"{result['cores']} cores: sequential {result['sequential_s'] * 1e3:.1f} ms, concurrent "
            f"{result['concurrent_s'] * 1e3:.1f} ms (medians of {result['repeats']}); "
            f"speed-up {result['speedup']:.2f}x")
