"""Named layer shapes shared by the benchmarks, the asv suite and the tests."""

from __future__ import annotations

from typing import NamedTuple


class Conv2dLayer(NamedTuple):
    batch: int
    channels: int
    height: int
    width: int
    out_channels: int
    kernel: int
    stride: int
    padding: int

    @property
    def label(self) -> str:
        return (f"{self.batch},{self.channels},{self.height},{self.width} -> {self.out_channels}, "
                f"{self.kernel},{self.stride},{self.padding}")

    def flops(self) -> float:
        """Multiply-adds of one forward pass, counted as two FLOPs each."""
        oh = (self.height + 2 * self.padding - self.kernel) // self.stride + 1
        ow = (self.width + 2 * self.padding - self.kernel) // self.stride + 1
        return 2.0 * self.batch * self.out_channels * oh * ow * self.channels * self.kernel**2


# The performance suite of DESIGN.md: MNIST-sized, ResNet-sized, a strided
# pointwise and a 7x7 stem layer.
CONV2D_SUITE = {
    "mnist-conv1": Conv2dLayer(64, 1, 28, 28, 32, 3, 1, 1),
    "mnist-conv2": Conv2dLayer(64, 32, 14, 14, 64, 3, 1, 1),
    "resnet-56x56": Conv2dLayer(8, 64, 56, 56, 64, 3, 1, 1),
    "resnet-14x14": Conv2dLayer(8, 256, 14, 14, 256, 3, 1, 1),
    "pointwise-s2": Conv2dLayer(8, 128, 28, 28, 256, 1, 2, 0),
    "stem-7x7": Conv2dLayer(4, 3, 112, 112, 64, 7, 2, 3),
}
