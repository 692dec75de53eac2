"""Convolution: speed (forward, forward + backward) across backends, peak
memory of one call, and accuracy against the float64 reference."""

import numpy as np

import convinit
from convinit.bench import conv_cases
from convinit.suites import README_SUITE as CONV2D_SUITE
from convinit.verify.reference import conv_f64

from .common import THREADS, pin_threads

LAYERS = list(CONV2D_SUITE)


class Conv2dForward:
    params = (LAYERS, ["convinit", "torch", "numpy"], ["float32", "float64"])
    param_names = ["layer", "backend", "dtype"]
    timeout = 300

    def setup(self, layer, backend, dtype):
        pin_threads()
        self.call = conv_cases(CONV2D_SUITE[layer], dtype, False, THREADS, ("numpy",))[backend]

    def time_forward(self, layer, backend, dtype):
        self.call()


class Conv2dBackward:
    """Forward plus the input and weight gradients."""

    params = (LAYERS, ["convinit", "torch"])
    param_names = ["layer", "backend"]
    timeout = 300

    def setup(self, layer, backend):
        pin_threads()
        self.call = conv_cases(CONV2D_SUITE[layer], "float32", True, THREADS, ())[backend]

    def time_forward_backward(self, layer, backend):
        self.call()


class Conv2dMemory:
    """Peak resident memory of a process holding the input, the weights and
    one output: the im2col workspace is tiled, so the excess over those
    arrays stays within a few MiB per thread whatever the layer."""

    params = (LAYERS,)
    param_names = ["layer"]
    timeout = 300

    def setup(self, layer):
        spec = CONV2D_SUITE[layer]
        self.stride, self.pad = spec.stride, spec.padding
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(spec.input_shape, dtype=np.float32)
        self.w = rng.standard_normal(spec.weight_shape, dtype=np.float32)

    def peakmem_forward(self, layer):
        convinit.conv2d(self.x, self.w, stride=self.stride, padding=self.pad, threads=THREADS)


class Conv2dAccuracy:
    """Max error relative to the largest |output|, against the float64 reference."""

    params = (LAYERS, ["float32", "float64"])
    param_names = ["layer", "dtype"]
    timeout = 300

    def setup(self, layer, dtype):
        spec = CONV2D_SUITE[layer]
        self.stride, self.pad = spec.stride, spec.padding
        rng = np.random.default_rng(1)
        self.x = rng.standard_normal((min(spec.batch, 2), *spec.input_shape[1:]))
        self.w = rng.standard_normal(spec.weight_shape) / np.sqrt(np.prod(spec.weight_shape[1:]))

    def track_max_relative_error(self, layer, dtype):
        ref = conv_f64(self.x, self.w, stride=self.stride, padding=self.pad)
        got = convinit.conv2d(self.x.astype(dtype), self.w.astype(dtype), stride=self.stride, padding=self.pad)
        return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))

    track_max_relative_error.unit = "relative error"
