"""Type stubs for the Rust extension ``convinit._core``.

Callers are the Python modules of this package, which validate and
normalize arguments first; the core re-checks shapes and lengths and raises
ValueError/TypeError/MemoryError, never panics.
"""

from typing import Any, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "conv_forward",
    "conv_algorithm",
    "conv_tiles",
    "unfold",
    "fold",
    "conv_backward_input",
    "conv_backward_weight",
    "philox4x32_10",
    "random_raw",
    "simd_backend",
    "fill",
    "fill_into",
    "ndtri",
    "fill_region",
    "fill_region_into",
    "fma_gflops",
    "write_gbps",
    "torch_seed_state",
    "torch_check_state",
    "torch_random",
    "torch_fill",
]

__version__: str

# (stride, dilation, pad_before, pad_after, groups, padding_mode), one
# value per spatial axis in each sequence.
_Geometry = Tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int], int, str]

# ---- convolution -----------------------------------------------------------

def conv_forward(
    input: npt.NDArray[np.floating],
    weight: npt.NDArray[np.floating],
    bias: Optional[npt.NDArray[np.floating]],
    geometry: _Geometry,
    threads: int,
    algorithm: str = "auto",
) -> npt.NDArray[np.floating]: ...
def conv_algorithm(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    geometry: _Geometry,
    algorithm: str = "auto",
) -> str: ...
def conv_tiles() -> str: ...
def unfold(
    input: npt.NDArray[np.floating],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    padding: Sequence[int],
    stride: Sequence[int],
    threads: int,
) -> npt.NDArray[np.floating]: ...
def fold(
    input: npt.NDArray[np.floating],
    output_size: Sequence[int],
    kernel_size: Sequence[int],
    dilation: Sequence[int],
    padding: Sequence[int],
    stride: Sequence[int],
    threads: int,
) -> npt.NDArray[np.floating]: ...
def conv_backward_input(
    weight: npt.NDArray[np.floating],
    grad_output: npt.NDArray[np.floating],
    input_shape: Sequence[int],
    geometry: _Geometry,
    threads: int,
) -> npt.NDArray[np.floating]: ...
def conv_backward_weight(
    input: npt.NDArray[np.floating],
    grad_output: npt.NDArray[np.floating],
    weight_shape: Sequence[int],
    geometry: _Geometry,
    threads: int,
) -> npt.NDArray[np.floating]: ...

# ---- random numbers and fills ------------------------------------------------

def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]: ...
def random_raw(seed: int, stream: int, start: int, count: int, threads: int) -> npt.NDArray[np.uint32]: ...
def simd_backend() -> str: ...
def fill(
    kind: str,
    params: Sequence[float],
    dtype: str,
    seed: int,
    stream: int,
    start: int,
    count: int,
    threads: int,
) -> npt.NDArray[np.floating]: ...
def fill_into(
    out: npt.NDArray[np.floating],
    kind: str,
    params: Sequence[float],
    seed: int,
    stream: int,
    start: int,
    threads: int,
) -> None: ...
def ndtri(p: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...

# The block ``region`` (one (start, stop) per axis) of the fill of a tensor of
# ``shape``, in C order. dtype "float32", "float64", or "bfloat16"/"float16"
# as uint16 bit patterns (each the float32 value rounded to nearest even).
def fill_region(
    kind: str,
    params: Sequence[float],
    dtype: str,
    seed: int,
    stream: int,
    shape: Sequence[int],
    region: Sequence[tuple[int, int]],
    threads: int,
) -> npt.NDArray[Any]: ...
def fill_region_into(
    out: npt.NDArray[Any],
    kind: str,
    params: Sequence[float],
    dtype: str,
    seed: int,
    stream: int,
    shape: Sequence[int],
    region: Sequence[tuple[int, int]],
    threads: int,
) -> None: ...

# ---- PyTorch's CPU generator (states are torch.Generator.get_state()'s 5056 bytes)

def torch_seed_state(seed: int) -> bytes: ...
def torch_check_state(state: bytes) -> bytes: ...
def torch_random(state: bytes, count: int, bits: int) -> tuple[npt.NDArray[np.unsignedinteger], bytes]: ...
def torch_fill(
    out: npt.NDArray[np.floating],
    kind: str,
    params: Tuple[float, float],
    state: bytes,
    vectorized: bool,
    threads: int = 0,
) -> bytes: ...

# ---- machine probes ----------------------------------------------------------

def fma_gflops(threads: int, iterations: int) -> float: ...
def write_gbps(threads: int, bytes: int, rounds: int) -> float: ...
