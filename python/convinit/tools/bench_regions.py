"""``convinit bench init --regions``: how fast a region fill runs next to a
contiguous fill of as many values, on one thread, in CPU time.

A region's rows are columns ``L // 3 + 5 .. + L`` of a ``(rows, 3 L + 37)``
tensor, so every row starts at another offset inside a Philox batch and no
two rows share a batch (the general case: a column shard of a wide weight).
The contiguous fill and the regions of every row length are timed in
interleaved rounds (so a change in the machine's load hits all alike); the
table gives the median rates and each region's share of the contiguous rate.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import numpy as np

from .. import _core

FILLS = {"uniform": [-1.0, 1.0], "normal": [0.0, 0.02], "trunc_normal": [0.0, 1.0, -2.0, 2.0]}
ROW_LENGTHS = (256, 512, 1024)


def region_of(values: int, row_len: int) -> tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
    """(shape, region) of a block of about ``values`` values in rows of ``row_len``."""
    rows, start = max(1, values // row_len), row_len // 3 + 5
    return (rows, 3 * row_len + 37), ((0, rows), (start, start + row_len))


def _cpu_seconds(call: Callable[[], None]) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def measure(kind: str, dtype: str, values: int, rounds: int = 11,
            row_lengths: Sequence[int] = ROW_LENGTHS) -> dict:
    """{"contiguous": G values/s, row_len: G values/s, ...}: medians over ``rounds``."""
    params, seed, stream = FILLS[kind], 1, 2
    flat = np.empty(values, dtype)
    calls: dict = {"contiguous": (values, lambda: _core.fill_region_into(flat, kind, params, dtype, seed, stream,
                                                                   (values,), ((0, values),), 1))}
    for row_len in row_lengths:
        shape, region = region_of(values, row_len)
        block = np.empty((region[0][1], row_len), dtype)
        calls[row_len] = (block.size, lambda block=block, shape=shape, region=region: _core.fill_region_into(
            block, kind, params, dtype, seed, stream, shape, region, 1))
    for _, call in calls.values():
        call()  # warm-up (and the first touch of every page)
    seconds: dict = {name: [] for name in calls}
    for _ in range(rounds):
        for name, (_, call) in calls.items():
            seconds[name].append(_cpu_seconds(call))
    return {name: count / statistics.median(seconds[name]) / 1e9 for name, (count, _) in calls.items()}


def run(rounds: int = 11, values: int = 1 << 21, progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """One row per (dtype, fill). float64 normal and trunc_normal (scalar
    libm, ~20x slower) use a sixteenth of the values."""
    rows = []
    for dtype in ("float32", "float64"):
        for kind in FILLS:
            n = values if dtype == "float32" or kind == "uniform" else max(values // 16, 4096)
            progress(f"regions {dtype} {kind}")
            rows.append({"dtype": dtype, "fill": kind, "values": n, "rates": measure(kind, dtype, n, rounds)})
    return rows


def render(rows: list[dict], markdown: bool = False) -> str:
    headers = ["dtype, fill", "contiguous", *(f"rows of {n}" for n in ROW_LENGTHS)]
    table = []
    for r in rows:
        rates = r["rates"]
        cells = [f"{rates[n]:.2f} G/s ({rates[n] / rates['contiguous']:.0%})" for n in ROW_LENGTHS]
        table.append([f"{r['dtype']} {r['fill']}", f"{rates['contiguous']:.3f} G/s", *cells])
    head = "region fills vs a contiguous fill of as many values: one thread, CPU time, medians"
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return head + "\n\n" + "\n".join(lines + ["| " + " | ".join(c) + " |" for c in table])
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(headers)]
    return head + "\n" + "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in [headers, *table])
