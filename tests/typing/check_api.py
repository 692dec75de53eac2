"""Checked by mypy in CI (``mypy tests/typing``), never run: the public API's
types as a user's type checker sees them. Each ``type: ignore[code]`` marks a
call that must be rejected; with ``warn_unused_ignores`` an ignore that is not
needed (the stub accepts a wrong call) fails the check."""

from typing import Any, Optional

import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import assert_type

import convinit
from convinit import init
from convinit.torch import Conv2d, init_module

FloatArray = npt.NDArray[np.floating[Any]]

x = np.zeros((2, 3, 8, 8), dtype=np.float32)
w = np.zeros((4, 3, 3, 3), dtype=np.float32)

assert_type(convinit.conv2d(x, w, padding="same", threads=1), FloatArray)
assert_type(convinit.conv1d(x[0], w[..., 0], stride=(2,)), FloatArray)
assert_type(convinit.conv3d(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 2, 2, 2)), FloatArray)
assert_type(convinit.unfold(x, 3, padding=1), FloatArray)
assert_type(convinit.conv_output_size(112, 7, stride=2, padding=3), int)
assert_type(convinit.conv_output_size((112, 112), 7), tuple[int, ...])
grads = convinit.conv2d_backward(x, w, np.ones((2, 4, 6, 6), np.float32), output_mask=(True, False, False))
assert_type(grads, tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]])
grads3 = convinit.conv3d_backward(x[..., None], w[..., None], np.ones((2, 4, 6, 6, 1), np.float32), padding=(0, 0, 0))
assert_type(grads3, tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]])
assert_type(convinit.correlate2d([[1.0, 2.0]], [[1.0]], mode="valid"), FloatArray)

assert_type(init.kaiming_normal((64, 32, 3, 3), mode="fan_out", nonlinearity="relu", seed=0), FloatArray)
assert_type(init.normal(10, std=0.02, generator=convinit.Generator(1), flat_range=(2, 5)), FloatArray)
w64: npt.NDArray[np.float64] = np.empty((3, 4))
assert_type(init.xavier_uniform_(w64, gain=2.0, seed=1), npt.NDArray[np.float64])
assert_type(init.kaiming_uniform_(torch.nn.Parameter(torch.empty(3, 4)), a=5**0.5), torch.nn.Parameter)
assert_type(init.fans((3, 4)), tuple[int, int])
assert_type(init.calculate_gain("leaky_relu", 0.2), float)
assert_type(init.init_module(torch.nn.Linear(2, 3), "xavier_uniform", seed=0), Any)
assert init_module is init.init_module
assert issubclass(convinit.ZeroFanError, ValueError)
assert_type(Conv2d(1, 2, 3, threads=2), Conv2d)

init.kaiming_normal((2, 3), sead=0)  # type: ignore[call-arg]
init.normal_([1.0, 2.0])  # type: ignore[type-var]
init.uniform((2, 3), "0", 1)  # type: ignore[arg-type]
init.constant((2, 3))  # type: ignore[call-arg]
init.zeros((2, 3), seed=0)  # type: ignore[call-arg]
convinit.conv2d(x, w, threads="all")  # type: ignore[arg-type]
convinit.conv2d(x, w, padding=1.5)  # type: ignore[arg-type]
convinit.conv_output_size(8, "3")  # type: ignore[arg-type]
