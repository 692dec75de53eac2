"""What the asv benchmarks share. asv runs today's benchmark files against
the builds of old commits, so they use only convinit's public API (plus the
`_core.fma_gflops` probe where a build has it), torch and this module.

- Every library runs on the same number of threads (THREADS).
- The layers of `convinit bench --suite` come from layers.json, a copy that
  `python -m convinit.tools.layers > asv_bench/benchmarks/layers.json`
  writes (a test keeps it equal to convinit.tools.layers).
- `block_seconds` times one library in its own block, as `convinit bench`
  does: a pause so the other library's spinning workers park, a warm-up,
  then the median of samples.
"""

import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

THREADS = 2 if (os.cpu_count() or 1) >= 2 else 1


def pin_threads(threads: int = THREADS) -> None:
    import torch

    torch.set_num_threads(threads)


class Layer(NamedTuple):
    batch: int
    channels: int
    size: tuple
    out_channels: int
    kernel: tuple
    stride: tuple
    padding: tuple
    groups: int

    @property
    def dims(self) -> int:
        return len(self.size)

    @property
    def input_shape(self) -> tuple:
        return (self.batch, self.channels, *self.size)

    @property
    def weight_shape(self) -> tuple:
        return (self.out_channels, self.channels // self.groups, *self.kernel)

    def flops(self) -> float:
        out = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(self.size, self.kernel, self.stride, self.padding)]
        return 2.0 * self.batch * self.out_channels * math.prod(out) * math.prod(self.weight_shape[1:])


def _load_suites() -> dict:
    raw = json.loads((Path(__file__).with_name("layers.json")).read_text())
    return {suite: {name: Layer(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
                    for name, fields in layers.items()} for suite, layers in raw.items()}


SUITES = _load_suites()


def arrays(layer: Layer, dtype: str = "float32"):
    """Seeded input and weight (scaled so outputs stay O(1))."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer.input_shape, dtype=np.float32).astype(dtype)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32) / math.sqrt(math.prod(layer.weight_shape[1:]))
    return x, w.astype(dtype)


def geometry(layer: Layer) -> dict:
    return {"stride": layer.stride, "padding": layer.padding, "groups": layer.groups}


def forward_call(layer: Layer, backend: str, dtype: str = "float32", threads: int = THREADS):
    """A no-argument callable: one forward pass of the layer (torch's threads
    are set by pin_threads)."""
    import torch

    import convinit

    x, w = arrays(layer, dtype)
    kwargs = geometry(layer)
    if backend == "convinit":
        conv = getattr(convinit, f"conv{layer.dims}d")
        return lambda: conv(x, w, threads=threads, **kwargs)
    conv = getattr(torch.nn.functional, f"conv{layer.dims}d")
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)

    def torch_forward():
        with torch.no_grad():
            conv(tx, tw, **kwargs)

    return torch_forward


def gradient_call(layer: Layer, backend: str, gradient: str, threads: int = THREADS):
    """A no-argument callable computing only grad_input or only grad_weight
    of a layer (torch: aten.convolution_backward with one output). Builds
    from before conv1d_backward and conv3d_backward skip 1-D and 3-D layers."""
    import torch

    import convinit

    backward = getattr(convinit, f"conv{layer.dims}d_backward", None)
    if backward is None:
        raise NotImplementedError(f"this build has no conv{layer.dims}d_backward")
    x, w = arrays(layer)
    dy = np.ones((layer.batch, layer.out_channels, *out_size(layer)), np.float32)
    mask = (gradient == "input", gradient == "weight", False)
    if backend == "convinit":
        return lambda: backward(x, w, dy, output_mask=mask, threads=threads, **geometry(layer))
    tx, tw, tdy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy)
    args = (list(layer.stride), list(layer.padding), [1] * layer.dims, False, [0] * layer.dims, layer.groups)
    return lambda: torch.ops.aten.convolution_backward(tdy, tx, tw, None, *args, list(mask))


def out_size(layer: Layer) -> tuple:
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(layer.size, layer.kernel, layer.stride, layer.padding))


# Block timing: 0.3 s idle, 0.1 s of untimed calls, then the median of
# SAMPLES samples of at least 20 ms each.
PAUSE, WARMUP, SAMPLE, SAMPLES = 0.3, 0.1, 0.02, 11


def _calls_for(fn, seconds: float, clock) -> float:
    """Seconds per call of fn on `clock`, calling it for at least `seconds` of that clock."""
    start, calls = clock(), 0
    while True:
        fn()
        calls += 1
        elapsed = clock() - start
        if elapsed >= seconds:
            return elapsed / calls


def block_seconds(fn, clock=time.perf_counter) -> float:
    """Median seconds per call of one library's block. With clock=time.process_time
    (CPU time; single-threaded calls only) the figure barely moves when other
    processes share the cores."""
    time.sleep(PAUSE)
    _calls_for(fn, WARMUP, clock)
    return statistics.median(_calls_for(fn, SAMPLE, clock) for _ in range(SAMPLES))


def fma_gflops() -> float:
    """This process's float32 FMA-throughput probe on THREADS threads."""
    from convinit import _core

    probe = getattr(_core, "fma_gflops", None)
    if probe is None:
        raise NotImplementedError("this build has no FMA probe")
    return probe(THREADS, 10_000_000)


def layer_names(suite: str) -> list:
    return list(SUITES[suite])
