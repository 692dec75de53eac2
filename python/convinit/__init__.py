"""convinit: fast, deterministic CPU convolution and seeded weight
initialization, and a harness that verifies any implementation of them."""

from . import init
from ._core import __version__
from .backward import conv1d_backward, conv2d_backward, conv3d_backward, conv_transpose2d
from .conv import conv1d, conv2d, conv3d, conv_algorithm, conv_output_size, fold, unfold
from .init import ZeroFanError
from .random import Generator, philox4x32_10
from .signal import convolve2d, correlate2d
from .torchgen import TorchGenerator

__all__ = [
    "Generator",
    "TorchGenerator",
    "ZeroFanError",
    "__version__",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv1d_backward",
    "conv2d_backward",
    "conv3d_backward",
    "conv_transpose2d",
    "conv_algorithm",
    "conv_output_size",
    "convolve2d",
    "correlate2d",
    "fold",
    "init",
    "philox4x32_10",
    "unfold",
]
