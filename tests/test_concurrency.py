"""Many Python threads calling convinit at once.

* Concurrent calls give the bits sequential calls give.
* Every kernel binding releases the GIL while it computes: a pure-Python
  counter thread keeps counting during a long call.
* A Generator shared between threads hands out each stream exactly once,
  so concurrent draws are a permutation of sequential ones.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pytest

import convinit
from convinit import _core, init

THREADS = 8


def in_threads(tasks: list[Callable[[], Any]]) -> list[Any]:
    """Runs the tasks on THREADS Python threads, all released at once."""
    barrier = threading.Barrier(min(THREADS, len(tasks)))

    def start(task: Callable[[], Any]) -> Any:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(start, tasks))


def same_bits(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return all(same_bits(x, y) for x, y in zip(a, b, strict=True))
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _conv_task(i: int) -> Callable[[], Any]:
    rng = np.random.default_rng(i)
    x = rng.standard_normal((2, 6, 20 + i, 17)).astype(np.float32 if i % 2 else np.float64)
    w = rng.standard_normal((4, 3, 3, 3)).astype(x.dtype)
    return lambda: convinit.conv2d(x, w, stride=(1, 2), padding=1, groups=2, padding_mode="reflect", threads=1)


def _backward_task(i: int) -> Callable[[], Any]:
    rng = np.random.default_rng(100 + i)
    x = rng.standard_normal((2, 4, 15, 12 + i))
    w = rng.standard_normal((6, 4, 3, 2))
    dy = rng.standard_normal((2, 6, 15, 12 + i))
    return lambda: convinit.conv2d_backward(x, w, dy, padding=1, dilation=(1, 2), threads=1)


def _unfold_task(i: int) -> Callable[[], Any]:
    x = np.random.default_rng(200 + i).standard_normal((3, 5, 11 + i, 9)).astype(np.float32)
    return lambda: convinit.unfold(x, (3, 2), dilation=2, padding=1, stride=(2, 1), threads=1)


def _fill_task(i: int) -> Callable[[], Any]:
    fills = [
        lambda g: init.kaiming_normal((64, 32, 3, 3), generator=g),
        lambda g: init.trunc_normal((5000,), 0.0, 1.0, -1.5, 2.0, generator=g, dtype="float64"),
        lambda g: init.xavier_uniform((300, 200), generator=g),
        lambda g: g.random_raw(10_000),
    ]
    return lambda: fills[i % len(fills)](convinit.Generator(1234 + i))


@pytest.mark.parametrize("make", [_conv_task, _backward_task, _unfold_task, _fill_task],
                         ids=["conv2d", "conv2d_backward", "unfold", "fills"])
def test_concurrent_calls_match_sequential_bits(make):
    sequential = [make(i)() for i in range(2 * THREADS)]
    concurrent = in_threads([make(i) for i in range(2 * THREADS)])
    for i, (a, b) in enumerate(zip(sequential, concurrent)):
        assert same_bits(a, b), f"call {i} differs when run concurrently"


# ---- the GIL is released in every kernel binding ----------------------------------

def _kernel_calls() -> dict[str, Callable[[], Any]]:
    """One long call (tenths of a second, one worker) of each binding, arguments
    prepared in advance so the timed call runs no Python code."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 96, 64, 64)).astype(np.float32)
    w = rng.standard_normal((96, 96, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((16, 96, 64, 64)).astype(np.float32)
    geometry = ([1, 1], [1, 1], [1, 1], [1, 1], 1, "zeros")
    image = x[:8, :64, :48, :48].copy()
    cols = _core.unfold(image, [7, 7], [1, 1], [3, 3], [1, 1], 1)
    out = np.empty(2**24, np.float64)
    probs = rng.random(2**22)
    torch_state = _core.torch_seed_state(0)
    return {
        "conv_forward": lambda: _core.conv_forward(x, w, None, geometry, 1),
        "conv_backward_input": lambda: _core.conv_backward_input(w, dy, list(x.shape), geometry, 1),
        "conv_backward_weight": lambda: _core.conv_backward_weight(x, dy, list(w.shape), geometry, 1),
        "unfold": lambda: _core.unfold(image, [7, 7], [1, 1], [3, 3], [1, 1], 1),
        "fold": lambda: _core.fold(cols, [48, 48], [7, 7], [1, 1], [3, 3], [1, 1], 1),
        "fill": lambda: _core.fill("trunc_normal", [0.0, 1.0, -2.0, 2.0], "float64", 1, 0, 0, 2**24, 1),
        "fill_into": lambda: _core.fill_into(out, "normal", [0.0, 1.0], 1, 0, 0, 1),
        "fill_region": lambda: _core.fill_region("trunc_normal", [0.0, 1.0, -2.0, 2.0], "float64", 1, 0,
                                                 [4096, 8192], [(0, 4096), (7, 4103)], 1),
        "fill_region_into": lambda: _core.fill_region_into(out, "normal", [0.0, 1.0], "float64", 1, 0,
                                                           [2**12, 2**12], [(0, 2**12), (0, 2**12)], 1),
        "random_raw": lambda: _core.random_raw(1, 0, 0, 2**26, 1),
        "ndtri": lambda: _core.ndtri(probs),
        "write_gbps": lambda: _core.write_gbps(1, 2**27, 4),
        "torch_fill": lambda: _core.torch_fill(out, "normal", (0.0, 1.0), torch_state, False, 1),
        "torch_random": lambda: _core.torch_random(torch_state, 2**24, 64),
    }


def ticks_during(call: Callable[[], Any]) -> tuple[int, float, float]:
    """(ticks of a pure-Python counter thread while ``call`` ran, seconds,
    the counter's ticks per second while the main thread slept)."""
    ticks = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.02)
    before, start = ticks[0], time.perf_counter()
    time.sleep(0.05)
    rate = (ticks[0] - before) / (time.perf_counter() - start)
    before, start = ticks[0], time.perf_counter()
    call()
    after, elapsed = ticks[0], time.perf_counter() - start
    stop.set()
    counter.join()
    return after - before, elapsed, rate


def repeated(call: Callable[[], Any], seconds: float) -> Callable[[], None]:
    """``call`` run often enough to take about ``seconds`` (timed once now):
    a fast machine finishes some calls in under 20 ms, too short to tell a
    released GIL from a held one."""
    start = time.perf_counter()
    call()
    repeats = max(1, min(50, round(seconds / max(time.perf_counter() - start, 1e-6))))

    def run() -> None:
        for _ in range(repeats):
            call()

    return run


@pytest.mark.parametrize("name", sorted(_kernel_calls()))
def test_kernel_releases_the_gil(name):
    call = _kernel_calls()[name]
    call()  # warm-up: thread pools, page faults
    call = repeated(call, 0.1)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        ticks, seconds, rate = ticks_during(call)
    finally:
        sys.setswitchinterval(interval)
    # Holding the GIL, each call would let the counter run for at most a
    # switch interval or two (0.1 ms each here), a small share of the call.
    assert seconds > 0.02, f"{name}: the calls are too short to tell ({seconds:.4f} s)"
    assert ticks > 0.25 * rate * seconds, (
        f"{name}: the counter ran {ticks / rate:.3f} s of the call's {seconds:.3f} s; the GIL is held")


def test_every_binding_is_covered():
    """A new binding must be added to _kernel_calls (or listed as trivial)."""
    # Trivial: constant-time work that holds the GIL by design (conv_algorithm
    # only resolves a name from the shapes, conv_tiles names the CPU's tiles;
    # the torch state helpers convert one small state).
    trivial = {"philox4x32_10", "simd_backend", "fma_gflops", "conv_algorithm", "conv_tiles", "torch_seed_state",
               "torch_check_state"}
    bindings = {n for n in dir(_core) if callable(getattr(_core, n)) and not n.startswith("_")}
    assert bindings - trivial - set(_kernel_calls()) == set()


# ---- a Generator shared between threads ---------------------------------------------

def test_shared_generator_hands_out_each_stream_once():
    generator = convinit.Generator(99)
    calls = 400
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        draws = in_threads([lambda: [generator.take_draw().stream for _ in range(calls)]] * THREADS)
    finally:
        sys.setswitchinterval(old)
    streams = sorted(s for chunk in draws for s in chunk)
    assert streams == list(range(THREADS * calls)), "streams duplicated or skipped"
    assert generator.stream == THREADS * calls


def test_shared_generator_results_are_a_permutation_of_sequential_ones():
    def draws(generator: convinit.Generator) -> list[Callable[[], np.ndarray]]:
        return [lambda: generator.normal(size=(257,), dtype="float64") for _ in range(4 * THREADS)]

    sequential = [f() for f in draws(convinit.Generator(5))]
    concurrent = in_threads(draws(convinit.Generator(5)))
    as_bytes = lambda arrays: sorted(a.tobytes() for a in arrays)  # noqa: E731
    assert as_bytes(concurrent) == as_bytes(sequential)
