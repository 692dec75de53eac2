"""16M float32 ``uniform_``/``normal_``: torch vs convinit.TorchGenerator.

Run: ``python tests/bench/torchgen_speed.py``. Each side is timed in its own
block after a 0.3 s pause, median of 7 runs: wall clock with the default
threads, then the CPU time of one thread (torch's fills are serial; convinit
with threads=1).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import torch

from convinit import TorchGenerator, _core, init

SIZE = 16 * 2**20
FILLS = (("uniform", (-1.0, 1.0)), ("normal", (0.0, 1.0)))


def median_ms(run: Callable[[], object], clock: Callable[[], float], repeats: int = 7) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return 1e3 * statistics.median(times)


def compare(label: str, clock: Callable[[], float], torch_fill: Callable, ours: Callable) -> None:
    for name, args in FILLS:
        time.sleep(0.3)
        t_torch = median_ms(lambda n=name, a=args: torch_fill(n, a), clock)
        time.sleep(0.3)
        t_ours = median_ms(lambda n=name, a=args: ours(n, a), clock)
        print(f"{name + '_':9s} {label}: torch {t_torch:7.1f} ms   convinit {t_ours:7.1f} ms   "
              f"speed-up {t_torch / t_ours:4.2f}x")


def main() -> None:
    target = torch.empty(SIZE)
    array = np.empty(SIZE, dtype=np.float32)
    generator = torch.Generator().manual_seed(0)
    ours = TorchGenerator(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 16M float32")

    def torch_fill(name: str, args: tuple) -> None:
        getattr(target, name + "_")(*args, generator=generator)

    compare("wall clock", time.perf_counter, torch_fill,
            lambda name, args: getattr(init, name + "_")(array, *args, generator=ours))

    torch.set_num_threads(1)
    state = [ours.get_state().tobytes()]

    def one_thread(name: str, args: tuple) -> None:
        state[0] = _core.torch_fill(array, name, args, state[0], True, 1)

    compare("one-thread CPU", time.thread_time, torch_fill, one_thread)


if __name__ == "__main__":
    main()
