"""asv benchmarks of 2-D convolution forward across backends."""

import numpy as np

import convinit
from convinit.suites import CONV2D_SUITE

LAYERS = CONV2D_SUITE


def numpy_reference(x, w, stride, pad):
    """Independent float64 reference: sliding windows and einsum in NumPy."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, w)


class Conv2dForward:
    params = (list(LAYERS), ["convinit", "torch"], ["float32", "float64"])
    param_names = ["layer", "backend", "dtype"]
    timeout = 300

    def setup(self, layer, backend, dtype):
        n, c, h, w, o, k, self.stride, self.pad = LAYERS[layer]
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, c, h, w)).astype(dtype)
        self.w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
        if backend == "torch":
            import torch

            self.conv = torch.nn.functional.conv2d
            self.x, self.w = torch.from_numpy(self.x), torch.from_numpy(self.w)
        else:
            self.conv = convinit.conv2d

    def time_forward(self, layer, backend, dtype):
        self.conv(self.x, self.w, stride=self.stride, padding=self.pad)

    def peakmem_forward(self, layer, backend, dtype):
        self.conv(self.x, self.w, stride=self.stride, padding=self.pad)


class Conv2dAccuracy:
    """Max relative error against a float64 reference, tracked across commits."""

    params = (["mnist-conv2", "resnet-14x14"],)
    param_names = ["layer"]

    def setup(self, layer):
        n, c, h, w, o, k, self.stride, self.pad = LAYERS[layer]
        rng = np.random.default_rng(1)
        self.x = rng.standard_normal((min(n, 2), c, h, w))
        self.w = rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)

    def track_float32_relative_error(self, layer):
        ref = numpy_reference(self.x, self.w, self.stride, self.pad)
        got = convinit.conv2d(self.x.astype(np.float32), self.w.astype(np.float32), stride=self.stride,
                              padding=self.pad)
        return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))

    track_float32_relative_error.unit = "relative error"
