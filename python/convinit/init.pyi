"""Type stubs for ``convinit.init``.

Written by ``python .ci/init_stub.py`` from the run-time signatures of the
generated initializers: change init.py, then re-run it (CI checks it is
current, and ``mypy.stubtest`` that it matches the module).
"""

from typing import Any, Optional, Sequence, TypeVar, Union

import numpy as np
import numpy.typing as npt
import torch

from ._args import ShapeLike
from .random import Generator
from .torch.module_init import init_module as init_module
from .torchgen import TorchGenerator

_FloatArray = npt.NDArray[np.floating[Any]]
_AnyGenerator = Union[Generator, TorchGenerator, torch.Generator]
_DTypeLike = Union[npt.DTypeLike, torch.dtype]
_TensorT = TypeVar("_TensorT", bound=Union[npt.NDArray[np.floating[Any]], torch.Tensor])
# A block of a tensor: one step-1 slice or (start, stop) pair per axis.
_Region = Sequence[Union[slice, tuple[int, int]]]

class ZeroFanError(ValueError, ZeroDivisionError): ...

__all__ = [
    "ZeroFanError",
    "fans",
    "calculate_gain",
    "uniform",
    "uniform_",
    "normal",
    "normal_",
    "trunc_normal",
    "trunc_normal_",
    "constant",
    "constant_",
    "zeros",
    "zeros_",
    "ones",
    "ones_",
    "eye",
    "eye_",
    "dirac",
    "dirac_",
    "xavier_uniform",
    "xavier_uniform_",
    "xavier_normal",
    "xavier_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "kaiming_normal",
    "kaiming_normal_",
    "orthogonal",
    "orthogonal_",
    "sparse",
    "sparse_",
]

def fans(shape: Union[Sequence[int], Any]) -> tuple[int, int]: ...
def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float: ...
def uniform(
    shape: ShapeLike,
    a: float = 0.0,
    b: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def uniform_(
    tensor: _TensorT,
    a: float = 0.0,
    b: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def normal(
    shape: ShapeLike,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def normal_(
    tensor: _TensorT,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def trunc_normal(
    shape: ShapeLike,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def trunc_normal_(
    tensor: _TensorT,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def constant(
    shape: ShapeLike,
    val: float,
    *,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def constant_(
    tensor: _TensorT,
    val: float,
    *,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def zeros(
    shape: ShapeLike,
    *,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def zeros_(tensor: _TensorT, *, region: Optional[_Region] = None, shape: Optional[ShapeLike] = None) -> _TensorT: ...
def ones(
    shape: ShapeLike,
    *,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def ones_(tensor: _TensorT, *, region: Optional[_Region] = None, shape: Optional[ShapeLike] = None) -> _TensorT: ...
def eye(
    shape: ShapeLike,
    *,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def eye_(tensor: _TensorT, *, region: Optional[_Region] = None, shape: Optional[ShapeLike] = None) -> _TensorT: ...
def dirac(
    shape: ShapeLike,
    groups: int = 1,
    *,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def dirac_(
    tensor: _TensorT,
    groups: int = 1,
    *,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def xavier_uniform(
    shape: ShapeLike,
    gain: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def xavier_uniform_(
    tensor: _TensorT,
    gain: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def xavier_normal(
    shape: ShapeLike,
    gain: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def xavier_normal_(
    tensor: _TensorT,
    gain: float = 1.0,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def kaiming_uniform(
    shape: ShapeLike,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def kaiming_uniform_(
    tensor: _TensorT,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def kaiming_normal(
    shape: ShapeLike,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def kaiming_normal_(
    tensor: _TensorT,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def orthogonal(
    shape: ShapeLike,
    gain: float = 1,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def orthogonal_(
    tensor: _TensorT,
    gain: float = 1,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
def sparse(
    shape: ShapeLike,
    sparsity: float,
    std: float = 0.01,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    dtype: _DTypeLike = "float32",
    flat_range: Optional[tuple[int, int]] = None,
    region: Optional[_Region] = None,
) -> _FloatArray: ...
def sparse_(
    tensor: _TensorT,
    sparsity: float,
    std: float = 0.01,
    *,
    seed: Optional[int] = None,
    generator: Optional[_AnyGenerator] = None,
    region: Optional[_Region] = None,
    shape: Optional[ShapeLike] = None,
) -> _TensorT: ...
