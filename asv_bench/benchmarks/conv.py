"""Convolution: per-layer times of the `convinit bench --suite` layers,
grad_input and grad_weight timed separately, ratios measured in one process
(the regression gate's steadiest signal on a shared machine), peak memory
and accuracy.

One class per suite and kind, so `asv run -b Readme` or `-b Resnet18VsTorch`
picks a suite: ReadmeForward, Resnet18Forward, MobilenetV2Forward,
MoreForward, DepthwiseForward (times); ...Gradients (times, 2-D layers); ...VsTorch and
...GradientsVsTorch (tracked ratios).

Tracked values are lower-is-better, as asv assumes for every benchmark:
`convinit time / torch time` (below 1: convinit is faster) and `time /
FMA-probe bound` (the measured time over the time the layer's FLOPs take
at the FMA probe's rate, measured in the same process: 2.0 is half the
peak).
"""

import numpy as np

import convinit

from .common import (SUITES, THREADS, arrays, block_seconds, fma_gflops, forward_call, gradient_call, layer_names,
                     pin_threads)

BACKENDS = ["convinit", "torch"]


class _Timed:
    """asv's sampling for time_ benchmarks on a noisy 2-core machine: two
    rounds in separate processes (interleaved across commits by `asv
    continuous --interleave-rounds`), 5 to 10 samples of ~20 ms each per
    round, after a 0.3 s warm-up so the other library's spinning threads
    are gone."""

    rounds = 2
    repeat = (5, 10, 5.0)
    sample_time = 0.02
    warmup_time = 0.3
    timeout = 600
    suite = "readme"


class _Forward(_Timed):
    param_names = ["layer", "backend"]

    def setup(self, layer, backend):
        pin_threads()
        self.call = forward_call(SUITES[self.suite][layer], backend)

    def time_forward(self, layer, backend):
        self.call()


class _Gradients(_Timed):
    param_names = ["layer", "backend"]

    def setup(self, layer, backend):
        pin_threads()
        spec = SUITES[self.suite][layer]
        self.grad_input = gradient_call(spec, backend, "input")
        self.grad_weight = gradient_call(spec, backend, "weight")

    def time_grad_input(self, layer, backend):
        self.grad_input()

    def time_grad_weight(self, layer, backend):
        self.grad_weight()


class _Ratios:
    """Ratios from one process, each library timed in its own block after
    a pause: a busy machine slows both sides alike, so these stay steady
    where the absolute times move."""

    param_names = ["layer"]
    rounds = 2
    timeout = 600
    suite = "readme"

    def setup(self, layer):
        pin_threads()
        self.layer = SUITES[self.suite][layer]

    def vs_torch(self, make_call, *args) -> float:
        ours = block_seconds(make_call(self.layer, "convinit", *args))
        return ours / block_seconds(make_call(self.layer, "torch", *args))


class _VsTorch(_Ratios):
    def track_forward_vs_torch(self, layer):
        return self.vs_torch(forward_call)

    track_forward_vs_torch.unit = "convinit time / torch time"

    def track_forward_vs_fma_bound(self, layer):
        bound = self.layer.flops() / (fma_gflops() * 1e9)
        return block_seconds(forward_call(self.layer, "convinit")) / bound

    track_forward_vs_fma_bound.unit = "time / FMA-probe bound"


class _GradientsVsTorch(_Ratios):
    def track_grad_input_vs_torch(self, layer):
        return self.vs_torch(gradient_call, "input")

    track_grad_input_vs_torch.unit = "convinit time / torch time"

    def track_grad_weight_vs_torch(self, layer):
        return self.vs_torch(gradient_call, "weight")

    track_grad_weight_vs_torch.unit = "convinit time / torch time"


def _suite_classes(suite: str, prefix: str) -> dict:
    """Forward, VsTorch, Gradients and GradientsVsTorch classes for one
    suite, each over every layer."""
    names = layer_names(suite)
    kinds = {"Forward": (_Forward, (names, BACKENDS)), "Gradients": (_Gradients, (names, BACKENDS)),
             "VsTorch": (_VsTorch, (names,)), "GradientsVsTorch": (_GradientsVsTorch, (names,))}
    return {prefix + kind: type(prefix + kind, (base,), {"suite": suite, "params": params})
            for kind, (base, params) in kinds.items()}


for _suite, _prefix in {"readme": "Readme", "resnet18": "Resnet18", "mobilenet_v2": "MobilenetV2",
                        "more": "More", "depthwise": "Depthwise"}.items():
    globals().update(_suite_classes(_suite, _prefix))


class Conv2dMemory:
    """Peak resident memory of a process holding the input, the weights and
    one output: the im2col workspace is tiled, so the excess over those
    arrays stays within a few MiB per thread whatever the layer."""

    params = (layer_names("readme"),)
    param_names = ["layer"]
    timeout = 300

    def setup(self, layer):
        self.layer = SUITES["readme"][layer]
        self.x, self.w = arrays(self.layer)

    def peakmem_forward(self, layer):
        convinit.conv2d(self.x, self.w, stride=self.layer.stride, padding=self.layer.padding, threads=THREADS)


class Conv2dAccuracy:
    """Max error relative to the largest |output|, against torch in float64."""

    params = (layer_names("readme"), ["float32", "float64"])
    param_names = ["layer", "dtype"]
    timeout = 300

    def setup(self, layer, dtype):
        import torch

        spec = SUITES["readme"][layer]
        self.layer = spec._replace(batch=min(spec.batch, 2))
        self.x, self.w = (a.astype(np.float64) for a in arrays(self.layer))
        self.ref = torch.nn.functional.conv2d(torch.from_numpy(self.x), torch.from_numpy(self.w),
                                              stride=self.layer.stride, padding=self.layer.padding).numpy()

    def track_max_relative_error(self, layer, dtype):
        got = convinit.conv2d(self.x.astype(dtype), self.w.astype(dtype), stride=self.layer.stride,
                              padding=self.layer.padding)
        return float(np.max(np.abs(got - self.ref)) / np.max(np.abs(self.ref)))

    track_max_relative_error.unit = "relative error"
