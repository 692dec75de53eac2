"""PyTorch's CPU random stream, bit for bit, with or without PyTorch.

:class:`TorchGenerator` is a clone of ``torch.Generator()`` on the CPU:
MT19937 seeded as ``torch.manual_seed`` seeds it, 32- and 64-bit draws as
``CPUGeneratorImpl`` takes them, the cached second Box–Muller value of the
scalar ``normal_`` path, and ``get_state()``/``set_state()`` with the same
5056 bytes as ``torch.Generator.get_state()``.

Every random ``convinit.init`` fill accepts one (or a real CPU
``torch.Generator``, whose state is read, advanced and written back) and
then produces exactly what ``torch.nn.init`` produces from the same state:
``uniform_`` and ``normal_`` on both of torch's paths (the vectorized fill of
contiguous tensors of >= 16 elements, the scalar one otherwise), elements
visited in ``TensorIterator``'s order for non-contiguous targets.
"""

from __future__ import annotations

import math
import secrets
import sys
import threading
import warnings
from typing import Any, Optional, Sequence

import numpy as np

from . import _core
from ._args import as_int

__all__ = ["TorchGenerator", "DEFAULT_SEED", "STATE_BYTES", "PINNED_TORCH_VERSIONS", "is_torch_generator"]

#: The torch releases whose CPU streams are reproduced (and recorded in the
#: golden vectors the tests replay).
PINNED_TORCH_VERSIONS = ("2.15.0",)

#: The seed of a fresh ``torch.Generator()``.
DEFAULT_SEED = 67280421310721
#: ``len(torch.Generator().get_state())``.
STATE_BYTES = 5056
_UINT64 = 1 << 64


def _seed_arg(seed: Any) -> int:
    """torch's reading of a seed: an int in [-2**63, 2**64), negatives wrapped."""
    value = as_int(seed, "seed")
    if not -(1 << 63) <= value < _UINT64:
        raise ValueError(f"seed: expected an integer in [-2**63, 2**64), got {value}")
    return value % _UINT64


def _state_bytes(state: Any) -> bytes:
    if isinstance(state, (bytes, bytearray, memoryview)):
        raw = bytes(state)
    else:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(state, torch.Tensor):
            if state.dtype != torch.uint8:
                raise TypeError(f"state: expected a torch.ByteTensor, got dtype {state.dtype}")
            state = state.detach().cpu().numpy()
        if not isinstance(state, np.ndarray) or state.dtype != np.uint8 or state.ndim != 1:
            raise TypeError(f"state: expected a 1-D uint8 array, ByteTensor or bytes, got {type(state).__name__}")
        raw = state.tobytes()
    return _core.torch_check_state(raw)


class TorchGenerator:
    """A clone of PyTorch's CPU ``torch.Generator`` (no torch needed).

    ``TorchGenerator(seed)`` draws what ``torch.Generator().manual_seed(seed)``
    draws; ``TorchGenerator()`` starts from torch's default seed. Thread-safe:
    each draw reads and advances the state under a lock.
    """

    device = "cpu"

    def __init__(self, seed: Any = DEFAULT_SEED) -> None:
        self._lock = threading.Lock()
        self._state = _core.torch_seed_state(_seed_arg(seed))

    # ---- torch.Generator's methods ----
    def manual_seed(self, seed: Any) -> "TorchGenerator":
        state = _core.torch_seed_state(_seed_arg(seed))
        with self._lock:
            self._state = state
        return self

    def seed(self) -> int:
        """Re-seeds from the operating system's entropy and returns the seed."""
        value = secrets.randbits(64)
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        return int.from_bytes(self._state[:8], "little")

    def get_state(self) -> np.ndarray:
        """The state as 5056 uint8 values: ``torch.Generator.set_state(
        torch.from_numpy(g.get_state()))`` continues this stream in torch."""
        return np.frombuffer(self._state, dtype=np.uint8).copy()

    def set_state(self, state: Any) -> "TorchGenerator":
        """From ``torch.Generator.get_state()`` (a ByteTensor), a uint8 array or bytes."""
        raw = _state_bytes(state)
        with self._lock:
            self._state = raw
        return self

    def clone_state(self) -> "TorchGenerator":
        twin = TorchGenerator()
        twin.set_state(self._state)
        return twin

    def __getstate__(self) -> dict[str, bytes]:
        return {"state": self._state}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self.__init__()  # type: ignore[misc]
        self.set_state(state["state"])

    def __repr__(self) -> str:
        return f"convinit.TorchGenerator(initial_seed={self.initial_seed()})"

    # ---- raw draws ----
    def random(self, n: Any = None) -> Any:
        """``CPUGeneratorImpl::random()``: one uint32, or an array of ``n``."""
        return self._raw(n, 32)

    def random64(self, n: Any = None) -> Any:
        """``CPUGeneratorImpl::random64()`` (first word high): one uint64, or ``n``."""
        return self._raw(n, 64)

    def _raw(self, n: Any, bits: int) -> Any:
        count = 1 if n is None else as_int(n, "n")
        if count < 0:
            raise ValueError(f"n: must be non-negative, got {count}")
        with self._lock:
            values, self._state = _core.torch_random(self._state, count, bits)
        return int(values[0]) if n is None else values

    # ---- the state as a stream the fills use ----
    def _read(self) -> bytes:
        return self._state

    def _write(self, state: bytes) -> None:
        self._state = state


class _TorchGeneratorAccess:
    """A real ``torch.Generator``: its state read out and written back."""

    def __init__(self, generator: Any) -> None:
        if generator.device.type != "cpu":
            raise TypeError(f"generator: expected a CPU torch.Generator, got one on {generator.device}")
        self.generator = generator
        self._lock = threading.Lock()

    def _read(self) -> bytes:
        return bytes(self.generator.get_state().numpy())

    def _write(self, state: bytes) -> None:
        import torch

        self.generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))


def is_torch_generator(generator: Any) -> bool:
    """A :class:`TorchGenerator` or a ``torch.Generator``."""
    if isinstance(generator, TorchGenerator):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(generator, torch.Generator)


def _access(generator: Any) -> Any:
    return generator if isinstance(generator, TorchGenerator) else _TorchGeneratorAccess(generator)


# ---- TensorIterator's element order ------------------------------------------


def iteration_axes(shape: Sequence[int], strides: Sequence[int]) -> list[int]:
    """The axes of a strided tensor from outermost to innermost in the order
    torch's ``TensorIterator`` visits a single output: an insertion sort by
    stride (ties broken towards the smaller size first), which for dense
    tensors is memory order."""
    perm = list(range(len(shape) - 1, -1, -1))  # perm[0] is the innermost axis

    def should_swap(d0: int, d1: int) -> int:
        s0, s1 = abs(strides[d0]), abs(strides[d1])
        if s0 == 0 or s1 == 0:
            return 0
        if s0 != s1:
            return 1 if s0 > s1 else -1
        return 1 if shape[d0] > shape[d1] else 0

    for i in range(1, len(perm)):
        moving = i
        for j in range(i - 1, -1, -1):
            order = should_swap(perm[j], perm[moving])
            if order > 0:
                perm[j], perm[moving] = perm[moving], perm[j]
                moving = j
            elif order < 0:
                break
    return perm[::-1]


def _iteration_view(array: np.ndarray) -> np.ndarray:
    """``array`` with its axes in iteration order (outermost first)."""
    return np.transpose(array, iteration_axes(array.shape, array.strides))


def _is_dense(array: np.ndarray) -> bool:
    """Non-overlapping and dense (some permutation of C order), as torch's
    ``empty_like`` asks before keeping a tensor's strides."""
    return _iteration_view(array).flags.c_contiguous


# ---- the fills -------------------------------------------------------------------


def _fill(array: np.ndarray, kind: str, params: tuple, stream: Any, contiguous: bool) -> None:
    """``array.uniform_(*params)`` / ``array.normal_(*params)`` in place,
    as torch does on a tensor with ``array``'s strides."""
    if array.size == 0:
        return
    vectorized = contiguous and kind == "normal"
    if array.flags.c_contiguous and array.dtype.isnative:
        stream._write(_core.torch_fill(array, kind, params, stream._read(), vectorized))
        return
    ordered = _iteration_view(array)
    values = np.empty(ordered.shape, dtype=array.dtype.newbyteorder("="))
    stream._write(_core.torch_fill(values, kind, params, stream._read(), vectorized))
    ordered[...] = values


def _rounded(value: float, dtype: np.dtype) -> float:
    return float(np.asarray(value, dtype=dtype))


def _channels_last_like(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """c10's ``is_channels_last_strides_{2,3}d``: a 4-D (5-D) tensor whose
    strides grow in the order C, W, H, N (C, W, H, D, N)."""
    if len(shape) not in (4, 5) or strides[1] == 0:
        return False
    smallest = 0
    for d in (1, 3, 2, 0) if len(shape) == 4 else (1, 4, 3, 2, 0):
        if shape[d] == 0 or strides[d] < smallest or (d == 0 and smallest == strides[1]):
            return False
        smallest = strides[d] * (shape[d] if shape[d] > 1 else 1)
    return True


def _like(array: np.ndarray) -> np.ndarray:
    """``torch.empty_like``: the same strides for a dense tensor, else
    channels-last if the strides suggest it, else C order."""
    if _is_dense(array):
        axes = iteration_axes(array.shape, array.strides)
    elif _channels_last_like(array.shape, array.strides):
        axes = [0, 2, 3, 1] if array.ndim == 4 else [0, 2, 3, 4, 1]
    else:
        return np.empty(array.shape, dtype=array.dtype)
    fresh = np.empty([array.shape[a] for a in axes], dtype=array.dtype)
    return np.transpose(fresh, np.argsort(axes))


def _contiguous(array: np.ndarray) -> bool:
    return bool(array.flags.c_contiguous)


def _trunc_normal(array: np.ndarray, mean: float, std: float, a: float, b: float, stream: Any) -> None:
    """``torch.nn.init.trunc_normal_`` of the pinned torch: rejection from
    N(mean, std) when [a, b] holds more than 0.3 of it, else uniform
    proposals on [a, b] accepted with probability pdf / peak."""

    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=4,
        )
    p = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std)
    if p > 0.3:
        _trunc_by_normals(array, mean, std, a, b, stream)
    else:
        _trunc_by_uniforms(array, mean, std, a, b, stream)


def _trunc_by_normals(array: np.ndarray, mean: float, std: float, a: float, b: float, stream: Any) -> None:
    lo, hi = _rounded(a, array.dtype), _rounded(b, array.dtype)
    _fill(array, "normal", (mean, std), stream, _contiguous(array))
    if array.size == 0:
        return
    result = array.copy()
    fresh_layout = _like(array)
    while True:
        mask = (result < lo) | (result > hi)
        if not mask.any():
            break
        fresh = fresh_layout
        _fill(fresh, "normal", (mean, std), stream, _contiguous(fresh))
        result = np.where(mask, fresh, result)
    array[...] = result


def _trunc_by_uniforms(array: np.ndarray, mean: float, std: float, a: float, b: float, stream: Any) -> None:
    dtype = array.dtype.type
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2

    def log_pdf_excess(x: np.ndarray) -> np.ndarray:
        # candidates.sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak):
        # torch divides by a scalar as a multiplication by its reciprocal.
        reciprocal = dtype(1) / dtype(std)
        z = (x - dtype(mean)) * reciprocal
        return (z * z) * dtype(-0.5) - dtype(log_peak)

    buffer = _like(array)
    _fill(array, "uniform", (a, b), stream, _contiguous(array))
    if array.size == 0:
        return
    candidates = log_pdf_excess(array)
    _fill(buffer, "uniform", (0.0, 1.0), stream, _contiguous(buffer))
    pending = np.log(buffer) > candidates
    result = array.copy()
    while pending.any():
        proposal = _like(array)
        _fill(proposal, "uniform", (a, b), stream, _contiguous(proposal))
        result = np.where(pending, proposal, result)
        candidates = log_pdf_excess(proposal)
        _fill(buffer, "uniform", (0.0, 1.0), stream, _contiguous(buffer))
        pending = np.where(pending, np.log(buffer) > candidates, pending)
    array[...] = result


def fill_(array: np.ndarray, kind: str, params: tuple, generator: Any, contiguous: Optional[bool] = None) -> None:
    """Fills the writable float NumPy view ``array`` as torch fills a tensor of
    its strides (``contiguous`` overrides the contiguity torch would see),
    from a TorchGenerator or torch.Generator, advancing it as torch would."""
    stream = _access(generator)
    is_contiguous = _contiguous(array) if contiguous is None else contiguous
    with stream._lock:
        if kind == "trunc_normal":
            mean, std, a, b = params
            _trunc_normal(array, mean, std, a, b, stream)
        elif kind in ("uniform", "normal"):
            _fill(array, kind, params, stream, is_contiguous)
        else:
            raise ValueError(f"distribution: expected uniform, normal or trunc_normal, got {kind!r}")
