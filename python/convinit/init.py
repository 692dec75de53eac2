"""``torch.nn.init``'s initializers, seeded, reproducible and shard-able.

Every initializer exists twice, generated from one definition:

* allocating, ``kaiming_normal(shape, a=0, mode="fan_in", ..., *, seed=None,
  generator=None, dtype="float32", flat_range=None)``, returning a NumPy
  array (or, with ``flat_range=(start, stop)``, exactly
  ``full.ravel()[start:stop]`` without computing the rest);
* in place, ``kaiming_normal_(tensor, ...)``, on a writable float NumPy
  array of any strides or a CPU torch tensor (leaf tensors that require
  grad included), returning the same object filled with the values the
  allocating form gives for its shape.

``init_module(module, scheme, seed=...)``, which initializes a whole torch
module, is defined in ``convinit.torch`` (it needs PyTorch) and is also
reachable as ``convinit.init.init_module``: importing ``convinit.init``
never imports torch.

Formulas, fans and gains are ``torch.nn.init``'s. Element ``i`` (C order) of
a random fill depends only on (seed, stream, i, dtype, distribution), never
on threads, chunking or the target's memory layout.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _core, torchgen
from ._args import as_int, dtype_arg, flat_range_arg, float_param, shape_arg
from ._arrays import check_allocation, is_torch_tensor
from ._dtypes import FILL_DTYPES, numpy_dtype, to_torch, torch_core_view, torch_dtypes
from .random import Draw, block_of, fill_into, resolve_draw, sample

__all__ = [
    "ZeroFanError",
    "fans",
    "calculate_gain",
    "uniform", "uniform_",
    "normal", "normal_",
    "trunc_normal", "trunc_normal_",
    "constant", "constant_",
    "zeros", "zeros_",
    "ones", "ones_",
    "eye", "eye_",
    "dirac", "dirac_",
    "xavier_uniform", "xavier_uniform_",
    "xavier_normal", "xavier_normal_",
    "kaiming_uniform", "kaiming_uniform_",
    "kaiming_normal", "kaiming_normal_",
    "orthogonal", "orthogonal_",
    "sparse", "sparse_",
]  # fmt: skip

Shape = tuple[int, ...]

# ---- fans and gains (torch.nn.init's definitions) ----------------------------


def fans(shape: Union[Sequence[int], Any]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape`` (or of an array/tensor), as
    torch's ``_calculate_fan_in_and_fan_out``: fan_in = shape[1] * receptive
    field, fan_out = shape[0] * receptive field."""
    dims = _shape_of(shape)
    if len(dims) < 2:
        raise ValueError(
            f"shape: Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, got {dims}"
        )
    receptive_field = math.prod(dims[2:])
    return dims[1] * receptive_field, dims[0] * receptive_field


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``:
    1 for linear/conv/sigmoid, 5/3 tanh, sqrt(2) relu, sqrt(2 / (1 + slope^2))
    leaky_relu (slope ``param``, default 0.01), 3/4 selu."""
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fan(shape: Shape, mode: str) -> int:
    mode = mode.lower() if isinstance(mode, str) else mode
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"mode: Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def _shape_of(obj: Any) -> Shape:
    if isinstance(obj, np.ndarray) or is_torch_tensor(obj):
        return tuple(int(d) for d in obj.shape)
    return shape_arg(obj)


def _need_dims(shape: Shape, allowed: tuple[int, ...], what: str) -> None:
    if len(shape) not in allowed:
        raise ValueError(f"shape: Only tensors with {what} are supported, got {shape}")


# ---- what an initializer produces --------------------------------------------


@dataclass(frozen=True)
class _Random:
    """An elementwise distribution fill: computed in Rust, shardable."""

    kind: str
    params: tuple


@dataclass(frozen=True)
class _Whole:
    """A fill computed for the whole tensor at once by ``make(shape, dtype, draw)``."""

    make: Callable[[Shape, str, Optional[Draw]], np.ndarray]
    random: bool = False
    # Every element the same function of nothing but the dtype (constant
    # fills): a region is then made at its own shape.
    uniform: bool = False


_Spec = Union[_Random, _Whole]


def _needs_draw(spec: _Spec) -> bool:
    return isinstance(spec, _Random) or spec.random


def _given(draw: Optional[Draw]) -> Draw:
    """The draw of a random fill, which the caller resolved (``_needs_draw``)."""
    if draw is None:
        raise AssertionError("a random fill was called without a draw")
    return draw


def _produce(spec: _Spec, shape: Shape, dtype: str, draw: Optional[Draw], flat_range: Any,
             region: Any = None) -> np.ndarray:
    if isinstance(spec, _Random):
        return sample(spec.kind, spec.params, shape, dtype, _given(draw), flat_range, region=region)
    if region is not None and not spec.uniform:
        raise ValueError("region: only elementwise fills (random distributions and constants) take a region")
    if region is not None:
        block = block_of(shape, flat_range, region)[2]
        check_allocation(block, numpy_dtype(dtype), "region: the fill")
        return np.asarray(spec.make(block, dtype, draw), dtype=numpy_dtype(dtype))
    start, stop = flat_range_arg(flat_range, math.prod(shape))
    check_allocation(shape, numpy_dtype(dtype), "shape: the fill")
    full = np.asarray(spec.make(shape, dtype, draw), dtype=numpy_dtype(dtype)).reshape(shape)
    return full if flat_range is None else full.ravel()[start:stop].copy()


# ---- in-place targets ---------------------------------------------------------


_EXPECTED_DTYPES = "float32, float64, bfloat16 or float16"


class _Target:
    """A writable float32/float64/bfloat16/float16 NumPy array or CPU torch
    tensor, holding the whole tensor or (``region`` with the full ``shape``)
    one block of it."""

    def __init__(self, tensor: Any, shape: Any = None, region: Any = None) -> None:
        self.tensor = tensor
        if is_torch_tensor(tensor):
            if tensor.device.type != "cpu":
                raise TypeError(f"tensor: expected a CPU tensor, got one on {tensor.device}")
            if tensor.dtype not in torch_dtypes():
                raise TypeError(f"tensor: expected dtype {_EXPECTED_DTYPES}, got {tensor.dtype}")
            self.dtype = torch_dtypes()[tensor.dtype]
            self.array = None
        elif isinstance(tensor, np.ndarray):
            if tensor.dtype.name not in FILL_DTYPES:
                raise TypeError(f"tensor: expected dtype {_EXPECTED_DTYPES}, got {tensor.dtype}")
            if not tensor.flags.writeable:
                raise ValueError("tensor: the array is read-only")
            self.dtype = tensor.dtype.name
            self.array = tensor
        else:
            raise TypeError(f"tensor: expected a NumPy array or a CPU torch tensor, got {type(tensor).__name__}")
        self.block = tuple(int(d) for d in tensor.shape)
        self.region = region
        self.shape = self._logical_shape(shape, region)

    def _logical_shape(self, shape: Any, region: Any) -> Shape:
        if (shape is None) != (region is None):
            raise ValueError("shape, region: give both (the tensor is the block region of a tensor of shape) or neither")
        if region is None:
            return self.block
        dims = shape_arg(shape)
        block = block_of(dims, None, region)[2]
        if block != self.block:
            raise ValueError(f"region: the block of shape {block} does not match the tensor's shape {self.block}")
        return dims

    def _direct_view(self) -> Optional[np.ndarray]:
        """A C-contiguous native-endian view the core can write into, if any."""
        view = self.array
        if view is None:
            if not self.tensor.is_contiguous() or self.tensor.is_conj() or self.tensor.is_neg():
                return None
            view = torch_core_view(self.tensor)
        return view if view.flags.c_contiguous and view.dtype.isnative else None

    def write(self, spec: _Spec, draw: Optional[Draw]) -> None:
        if math.prod(self.block) == 0:
            return
        view = self._direct_view() if isinstance(spec, _Random) else None
        if isinstance(spec, _Random) and view is not None:
            fill_into(view, spec.kind, spec.params, _given(draw), self.shape, self.region, self.dtype)
            if self.array is None:
                import torch

                # Written through a NumPy view: tell autograd, as an in-place op would.
                torch.autograd.graph.increment_version(self.tensor)
            return
        values = _produce(spec, self.shape, self.dtype, draw, None, self.region)
        if self.array is not None:
            self.array[...] = values
        else:
            import torch

            with torch.no_grad():
                self.tensor.copy_(to_torch(values))


def _local_block(tensor: Any, shape: Any, region: Any) -> tuple[Any, Any, Any]:
    """A DTensor's local shard with the global shape and its region; anything else unchanged."""
    from .distributed import is_dtensor

    if is_dtensor(tensor):
        from .distributed import local_block

        return local_block(tensor, shape, region)
    return tensor, shape, region


# ---- PyTorch's own stream (convinit.TorchGenerator or torch.Generator) --------


def _torch_stream(rng: dict) -> bool:
    if not torchgen.is_torch_generator(rng.get("generator")):
        return False
    if rng.get("seed") is not None:
        raise ValueError("seed, generator: give at most one of them")
    return True


def _torch_write(name: str, spec: _Spec, array: np.ndarray, generator: Any, contiguous: bool) -> None:
    """``array`` filled as torch.nn.init's ``name`` fills a tensor of its strides."""
    if isinstance(spec, _Random):
        torchgen.fill_(array, spec.kind, spec.params, generator, contiguous)
    elif spec.random:
        raise TypeError(f"generator: {name} does not take a TorchGenerator or torch.Generator "
                        "(its values depend on torch's LAPACK build); use a convinit.Generator")
    else:
        array[...] = spec.make(array.shape, array.dtype.name, None)


def _torch_allocating(name: str, spec: _Spec, dims: Shape, dtype: str, generator: Any, flat_range: Any) -> np.ndarray:
    start, stop = flat_range_arg(flat_range, math.prod(dims))
    check_allocation(dims, np.dtype(dtype), "shape: the fill")
    full = np.empty(dims, dtype=dtype)
    _torch_write(name, spec, full, generator, contiguous=True)
    return full if flat_range is None else full.ravel()[start:stop].copy()


def _torch_in_place(name: str, spec: _Spec, target: "_Target", generator: Any) -> None:
    if target.array is not None:
        _torch_write(name, spec, target.array, generator, bool(target.array.flags.c_contiguous))
        return
    import torch

    tensor = target.tensor
    with torch.no_grad():
        _torch_write(name, spec, tensor.detach().numpy(), generator, tensor.is_contiguous())
    torch.autograd.graph.increment_version(tensor)


# ---- one definition -> allocating and in-place functions ----------------------

# The parameters every generated initializer shares. Their annotations are
# the type expressions of `init.pyi`, which `.ci/init_stub.py` writes from
# these run-time signatures: a parameter added here (or to a plan below)
# reaches the stub by re-running that script.
_KW = inspect.Parameter.KEYWORD_ONLY
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_SHAPE_PARAM = inspect.Parameter("shape", _POSITIONAL, annotation="ShapeLike")
_TENSOR_PARAM = inspect.Parameter("tensor", _POSITIONAL, annotation="_TensorT")
_RNG_PARAMS = [
    inspect.Parameter("seed", _KW, default=None, annotation="Optional[int]"),
    inspect.Parameter("generator", _KW, default=None, annotation="Optional[_AnyGenerator]"),
]
_OUT_PARAMS = [
    inspect.Parameter("dtype", _KW, default="float32", annotation="_DTypeLike"),
    inspect.Parameter("flat_range", _KW, default=None, annotation="Optional[tuple[int, int]]"),
    inspect.Parameter("region", _KW, default=None, annotation="Optional[_Region]"),
]
# In place: the tensor is the block ``region`` of a tensor of ``shape``.
_BLOCK_PARAMS = [
    inspect.Parameter("region", _KW, default=None, annotation="Optional[_Region]"),
    inspect.Parameter("shape", _KW, default=None, annotation="Optional[ShapeLike]"),
]
_ALLOCATING_RETURNS = "_FloatArray"
_IN_PLACE_RETURNS = "_TensorT"


def _check_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """TypeError naming the public function for arguments its signature lacks."""
    try:
        function.__signature__.bind(*args, **kwargs)  # type: ignore[attr-defined]
    except TypeError as exc:
        raise TypeError(f"{function.__name__}(): {exc}") from None


def _define(plan: Callable[..., _Spec], random: bool) -> tuple[Callable[..., np.ndarray], Callable[..., Any]]:
    """The allocating and in-place initializers of ``plan(shape, *params)``."""
    name = plan.__name__.lstrip("_")
    params = list(inspect.signature(plan).parameters.values())[1:]
    rng_params = _RNG_PARAMS if random else []

    def allocating(shape: Any, *args: Any, dtype: Any = "float32", flat_range: Any = None, region: Any = None,
                   **kwargs: Any) -> np.ndarray:
        _check_call(allocating, shape, *args, dtype=dtype, flat_range=flat_range, region=region, **kwargs)
        rng = {k: kwargs.pop(k) for k in ("seed", "generator") if random and k in kwargs}
        dims, dtype = shape_arg(shape), dtype_arg(dtype)
        spec = plan(dims, *args, **kwargs)
        if _torch_stream(rng):
            return _torch_allocating(name, spec, dims, dtype, rng["generator"], flat_range)
        draw = resolve_draw(**rng) if _needs_draw(spec) else None
        return _produce(spec, dims, dtype, draw, flat_range, region)

    def in_place(tensor: Any, *args: Any, region: Any = None, shape: Any = None, **kwargs: Any) -> Any:
        _check_call(in_place, tensor, *args, region=region, shape=shape, **kwargs)
        rng = {k: kwargs.pop(k) for k in ("seed", "generator") if random and k in kwargs}
        target = _Target(*_local_block(tensor, shape, region))
        spec = plan(target.shape, *args, **kwargs)
        if _torch_stream(rng):
            _torch_in_place(name, spec, target, rng["generator"])
            return tensor
        draw = resolve_draw(**rng) if _needs_draw(spec) else None
        target.write(spec, draw)
        return tensor

    doc = inspect.getdoc(plan) or ""
    allocating.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_SHAPE_PARAM, *params, *rng_params, *_OUT_PARAMS], return_annotation=_ALLOCATING_RETURNS)
    in_place.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_TENSOR_PARAM, *params, *rng_params, *_BLOCK_PARAMS], return_annotation=_IN_PLACE_RETURNS)
    allocating.__name__ = allocating.__qualname__ = name
    in_place.__name__ = in_place.__qualname__ = name + "_"
    allocating.__doc__ = f"A new array of ``shape``: {doc}"
    in_place.__doc__ = f"Fills ``tensor`` in place and returns it: {doc}"
    allocating.__module__ = in_place.__module__ = __name__
    return allocating, in_place


# ---- the initializers (torch.nn.init formulas) --------------------------------


def _uniform(shape: Shape, a: float = 0.0, b: float = 1.0) -> _Spec:
    """U(a, b), values in [a, b)."""
    return _Random("uniform", (float_param(a, "a"), float_param(b, "b")))


def _normal(shape: Shape, mean: float = 0.0, std: float = 1.0) -> _Spec:
    """N(mean, std^2)."""
    return _Random("normal", (float_param(mean, "mean"), float_param(std, "std")))


def _trunc_normal(shape: Shape, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> _Spec:
    """N(mean, std^2) restricted to [a, b]; a and b are absolute values, not multiples of std."""
    params = (float_param(mean, "mean"), float_param(std, "std"), float_param(a, "a"), float_param(b, "b"))
    return _Random("trunc_normal", params)


def _constant(shape: Shape, val: float) -> _Spec:
    """every element ``val``."""
    value = float_param(val, "val")
    return _Whole(lambda s, dtype, _: np.full(s, value, dtype=numpy_dtype(dtype)), uniform=True)


def _zeros(shape: Shape) -> _Spec:
    """every element 0."""
    return _constant(shape, 0.0)


def _ones(shape: Shape) -> _Spec:
    """every element 1."""
    return _constant(shape, 1.0)


def _eye(shape: Shape) -> _Spec:
    """the 2-D identity (ones on the main diagonal)."""
    _need_dims(shape, (2,), "2 dimensions")
    return _Whole(lambda s, dtype, _: np.eye(s[0], s[1], dtype=numpy_dtype(dtype)))


def _dirac(shape: Shape, groups: int = 1) -> _Spec:
    """the Dirac delta of a 3-, 4- or 5-D conv weight: input channel d of each group passes through at the kernel centre."""
    _need_dims(shape, (3, 4, 5), "3, 4, or 5 dimensions")
    groups = as_int(groups, "groups")
    if groups <= 0:
        raise ValueError(f"groups: expected a positive integer, got {groups!r}")
    if shape[0] % groups != 0:
        raise ValueError(f"groups: dim 0 must be divisible by groups, got dim 0 = {shape[0]} and groups = {groups}")

    def make(s: Shape, dtype: str, _: Any) -> np.ndarray:
        out = np.zeros(s, dtype=numpy_dtype(dtype))
        per_group = s[0] // groups
        centre = tuple(k // 2 for k in s[2:])
        for g in range(groups):
            for d in range(min(per_group, s[1])):
                out[(g * per_group + d, d, *centre)] = 1
        return out

    return _Whole(make)


class ZeroFanError(ValueError, ZeroDivisionError):
    """fan_in + fan_out is 0: torch divides by it (ZeroDivisionError); this
    is also a ValueError, like every other bad argument here."""


def _xavier_std(shape: Shape, gain: float) -> float:
    fan_in, fan_out = fans(shape)
    scale = float_param(gain, "gain")
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"gain: expected a finite non-negative number, got {gain!r}")
    if fan_in + fan_out == 0:
        raise ZeroFanError(f"shape: fan_in + fan_out is 0 for shape {shape}, Xavier's std divides by it")
    return scale * math.sqrt(2.0 / float(fan_in + fan_out))


def _xavier_uniform(shape: Shape, gain: float = 1.0) -> _Spec:
    """Glorot & Bengio (2010): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    bound = math.sqrt(3.0) * _xavier_std(shape, gain)
    return _Random("uniform", (-bound, bound))


def _xavier_normal(shape: Shape, gain: float = 1.0) -> _Spec:
    """Glorot & Bengio (2010): N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _Random("normal", (0.0, _xavier_std(shape, gain)))


def _kaiming_std(shape: Shape, a: float, mode: str, nonlinearity: str) -> Optional[float]:
    if 0 in shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)
        return None
    fan = _fan(shape, mode)
    try:
        gain = calculate_gain(nonlinearity, a)
    except ValueError as exc:  # torch's message, plus the argument it is about
        name = "nonlinearity" if str(exc).startswith("Unsupported") else "a"
        raise ValueError(f"{name}: {exc}") from None
    std = gain / math.sqrt(fan)
    if not math.isfinite(std):
        raise ValueError(f"a: negative_slope {a!r} gives a non-finite gain")
    return std


def _nothing() -> _Spec:
    return _constant((), 0.0)


def _kaiming_uniform(shape: Shape, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> _Spec:
    """He et al. (2015): U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    std = _kaiming_std(shape, a, mode, nonlinearity)
    return _nothing() if std is None else _Random("uniform", (-math.sqrt(3.0) * std, math.sqrt(3.0) * std))


def _kaiming_normal(shape: Shape, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> _Spec:
    """He et al. (2015): N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    std = _kaiming_std(shape, a, mode, nonlinearity)
    return _nothing() if std is None else _Random("normal", (0.0, std))


def _orthogonal(shape: Shape, gain: float = 1) -> _Spec:
    """Saxe et al. (2013): a (semi-)orthogonal matrix of the shape flattened to
    (shape[0], rest), from the QR decomposition (numpy.linalg.qr) of a standard
    normal matrix, Q's columns sign-corrected by diag(R) as torch does, times gain."""
    if len(shape) < 2:
        raise ValueError(f"shape: Only tensors with 2 or more dimensions are supported, got {shape}")
    scale = float_param(gain, "gain")

    def make(s: Shape, dtype: str, draw: Optional[Draw]) -> np.ndarray:
        if math.prod(s) == 0:
            return np.zeros(s, dtype=numpy_dtype(dtype))
        rows = s[0]
        cols = math.prod(s) // rows
        flat = sample("normal", (0.0, 1.0), (rows, cols), "float64", _given(draw))
        if rows < cols:
            flat = flat.T
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (q * scale).reshape(s)

    return _Whole(make, random=True)


# Raw words deciding which entries `sparse` zeroes sit at this word offset of
# the draw's stream, far from the blocks its normal values use.
_SPARSE_KEYS_AT = 1 << 63


def _sparse(shape: Shape, sparsity: float, std: float = 0.01) -> _Spec:
    """Martens (2010): N(0, std^2) with ceil(sparsity * rows) entries of every column set to 0 (2-D only)."""
    _need_dims(shape, (2,), "2 dimensions")
    fraction, sigma = float_param(sparsity, "sparsity"), float_param(std, "std")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"sparsity: expected a fraction in [0, 1], got {sparsity}")

    def make(s: Shape, dtype: str, draw: Optional[Draw]) -> np.ndarray:
        rows, cols = s
        drawn = _given(draw)
        values = sample("normal", (0.0, sigma), s, dtype, drawn)
        zeros = math.ceil(fraction * rows)
        if zeros and cols:
            keys = _core.random_raw(drawn.seed, drawn.stream, _SPARSE_KEYS_AT, rows * cols, 0).reshape(rows, cols)
            chosen = np.argsort(keys, axis=0, kind="stable")[:zeros]
            values[chosen, np.arange(cols)] = 0
        return values

    return _Whole(make, random=True)


uniform, uniform_ = _define(_uniform, random=True)
normal, normal_ = _define(_normal, random=True)
trunc_normal, trunc_normal_ = _define(_trunc_normal, random=True)
constant, constant_ = _define(_constant, random=False)
zeros, zeros_ = _define(_zeros, random=False)
ones, ones_ = _define(_ones, random=False)
eye, eye_ = _define(_eye, random=False)
dirac, dirac_ = _define(_dirac, random=False)
xavier_uniform, xavier_uniform_ = _define(_xavier_uniform, random=True)
xavier_normal, xavier_normal_ = _define(_xavier_normal, random=True)
kaiming_uniform, kaiming_uniform_ = _define(_kaiming_uniform, random=True)
kaiming_normal, kaiming_normal_ = _define(_kaiming_normal, random=True)
orthogonal, orthogonal_ = _define(_orthogonal, random=True)
sparse, sparse_ = _define(_sparse, random=True)


# `init_module` needs torch and builds on the fills above, so it lives in
# `convinit.torch`; the name stays reachable here (PEP 562) without this
# module importing torch or anything that imports it back.
_TORCH_NAMES = ("init_module",)


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from .torch import module_init

        return getattr(module_init, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TORCH_NAMES])
