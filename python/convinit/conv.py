"""Convolution with ``torch.nn.functional`` semantics, computed by the Rust core.

Every function accepts NumPy arrays of any strides, CPU torch tensors and
nested lists, and returns a NumPy array of the input's dtype.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union, overload

import numpy as np

from . import _core
from ._args import ArrayLike, FloatArray, IntOrTuple, Padding, as_int, conv_padding, non_negative, one_of, positive, \
    threads_arg
from ._arrays import c_contiguous, check_allocation, float_array, same_dtype

__all__ = ["conv1d", "conv2d", "conv3d", "conv_algorithm", "unfold", "fold", "conv_output_size"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@overload
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int: ...


@overload
def conv_output_size(size: Sequence[int], kernel_size: IntOrTuple, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     dilation: IntOrTuple = 1) -> tuple[int, ...]: ...


@overload
def conv_output_size(size: IntOrTuple, kernel_size: IntOrTuple, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     dilation: IntOrTuple = 1) -> Union[int, tuple[int, ...]]: ...


def conv_output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> Union[int, tuple[int, ...]]:
    """``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``.

    Scalars give an int; any tuple argument gives a tuple per axis.
    """
    args = (size, kernel_size, stride, padding, dilation)
    dims = max((len(a) for a in args if isinstance(a, (tuple, list))), default=0)
    n = max(dims, 1)
    sizes = non_negative(size, n, "size")
    kernel = positive(kernel_size, n, "kernel_size")
    strides = positive(stride, n, "stride")
    pads = non_negative(padding, n, "padding")
    dilations = positive(dilation, n, "dilation")
    out = []
    for axis, (h, k, s, p, d) in enumerate(zip(sizes, kernel, strides, pads, dilations)):
        span = h + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise ValueError(
                f"kernel_size: dilated kernel {d * (k - 1) + 1} is larger than the padded "
                f"input {h + 2 * p} on axis {axis}"
            )
        out.append(span // s + 1)
    return tuple(out) if dims else out[0]


@dataclass(frozen=True)
class ConvLayout:
    """What a convolution's argument checks derive from the arrays' shapes,
    the dtype and the int arguments: the per-axis geometry the core takes."""

    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    before: tuple[int, ...]
    after: tuple[int, ...]
    groups: int
    padding_mode: str
    out_size: tuple[int, ...]
    unbatched: bool
    threads: int

    def geometry(self) -> tuple:
        """The core's geometry argument: (stride, dilation, pad_before, pad_after, groups, padding_mode)."""
        return (self.strides, self.dilations, self.before, self.after, self.groups, self.padding_mode)


@dataclass
class ConvCall:
    """A validated convolution: batched C-contiguous arrays of one dtype and
    their layout."""

    x: np.ndarray
    w: np.ndarray
    b: Optional[np.ndarray]
    dtype: np.dtype
    layout: ConvLayout

    @property
    def unbatched(self) -> bool:
        return self.layout.unbatched

    @property
    def threads(self) -> int:
        return self.layout.threads

    def geometry(self) -> tuple:
        return self.layout.geometry()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.x.shape[0], self.w.shape[0], *self.layout.out_size)

    @overload
    def unbatch(self, array: np.ndarray) -> np.ndarray: ...

    @overload
    def unbatch(self, array: None) -> None: ...

    def unbatch(self, array: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return array[0] if self.unbatched and array is not None else array


def prepare_conv(spatial: int, input: Any, weight: Any, bias: Any, stride: IntOrTuple, padding: Union[IntOrTuple, str],
                 dilation: IntOrTuple, groups: Any, padding_mode: str, threads: Optional[int],
                 output: Optional[str] = None) -> ConvCall:
    """Checks every argument of a ``conv{spatial}d`` call, as PyTorch does.

    With ``output`` (its name in messages), also refuses an output larger
    than memory, before any input is copied.
    """
    x = float_array(input, "input")
    w = float_array(weight, "weight")
    b = None if bias is None else float_array(bias, "bias")
    dtype = same_dtype({"input": x, "weight": w, "bias": b})
    given = (stride, padding, dilation, groups, padding_mode, threads)
    arguments = (spatial, x.shape, w.shape, None if b is None else b.shape, dtype, *given, output)
    # Layers are called again and again with the same shapes: their checks
    # are looked up (a tenth of a small layer's time otherwise). Only
    # arguments of exact types are looked up, so that 2.0 or True, equal
    # to 2 and 1 as keys, still reach the checks that refuse them (shapes,
    # the dtype and the names come from here and always are).
    layout = _cached_layout(*arguments) if _all_plain(given) else conv_layout(*arguments)
    if layout.unbatched:
        x = x[None]
    return ConvCall(
        x=c_contiguous(x, dtype, "input"), w=c_contiguous(w, dtype, "weight"),
        b=None if b is None else c_contiguous(b, dtype, "bias"), dtype=dtype, layout=layout,
    )


def _all_plain(values: tuple) -> bool:
    """Whether each value is an int, str or None, or a tuple of ints,
    exactly (no subclasses). A plain loop: per call this is overhead."""
    for value in values:
        kind = type(value)
        if kind is int or kind is str or value is None:
            continue
        if kind is not tuple:
            return False
        for item in value:
            if type(item) is not int:
                return False
    return True


def conv_layout(spatial: int, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: Optional[tuple[int, ...]],
                dtype: np.dtype, stride: IntOrTuple, padding: Union[IntOrTuple, str], dilation: IntOrTuple,
                groups: Any, padding_mode: str, threads: Optional[int], output: Optional[str]) -> ConvLayout:
    """The checks of ``prepare_conv`` that the shapes, dtype and int arguments decide."""
    name = f"conv{spatial}d"
    if len(x_shape) not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"input: expected {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input to "
            f"{name}, got shape {x_shape}"
        )
    if len(w_shape) != spatial + 2:
        raise ValueError(f"weight: expected a {spatial + 2}-D weight (out, in/groups, *kernel), got shape {w_shape}")
    unbatched = len(x_shape) == spatial + 1
    if unbatched:
        x_shape = (1, *x_shape)
    groups = _groups(groups, x_shape[1], w_shape)
    if b_shape is not None and b_shape != (w_shape[0],):
        raise ValueError(f"bias: expected shape ({w_shape[0]},), got {b_shape}")
    strides = positive(stride, spatial, "stride")
    dilations = positive(dilation, spatial, "dilation")
    before, after = conv_padding(padding, tuple(w_shape[2:]), strides, dilations)
    one_of(padding_mode, PADDING_MODES, "padding_mode")
    out_size = []
    for axis in range(spatial):
        padded = x_shape[2 + axis] + before[axis] + after[axis]
        span = dilations[axis] * (w_shape[2 + axis] - 1) + 1
        if padded < span:
            raise ValueError(
                f"weight: kernel size {span} (dilated) can't be greater than the padded input size "
                f"{padded} on spatial axis {axis}"
            )
        out_size.append((padded - span) // strides[axis] + 1)
    if output is not None:
        check_allocation((x_shape[0], w_shape[0], *out_size), dtype, output)
    return ConvLayout(strides=strides, dilations=dilations, before=before, after=after, groups=groups,
                      padding_mode=padding_mode, out_size=tuple(out_size), unbatched=unbatched,
                      threads=threads_arg(threads))


_cached_layout = functools.lru_cache(maxsize=256)(conv_layout)


ALGORITHMS = ("auto", "im2col", "implicit_gemm", "winograd", "depthwise")


def _conv(spatial: int, input: Any, weight: Any, bias: Any, stride: IntOrTuple, padding: Union[IntOrTuple, str],
          dilation: IntOrTuple, groups: int, padding_mode: str, threads: Optional[int],
          algorithm: str = "auto") -> np.ndarray:
    one_of(algorithm, ALGORITHMS, "algorithm")
    call = prepare_conv(spatial, input, weight, bias, stride, padding, dilation, groups, padding_mode, threads,
                        output=f"conv{spatial}d output")
    return call.unbatch(_core.conv_forward(call.x, call.w, call.b, call.geometry(), call.threads, algorithm))


def conv_algorithm(input: ArrayLike, weight: ArrayLike, stride: IntOrTuple = 1, padding: Padding = 0,
                   dilation: IntOrTuple = 1, groups: int = 1, padding_mode: str = "zeros",
                   algorithm: str = "auto") -> str:
    """The kernel a ``conv1d/2d/3d`` call with these arguments runs:
    ``"auto"`` resolves to the one the selection rule picks (a pure function
    of the shapes, never of timings or threads). A forced
    algorithm that cannot compute the shapes raises ValueError."""
    one_of(algorithm, ALGORITHMS, "algorithm")
    x, w = float_array(input, "input"), float_array(weight, "weight")
    spatial = w.ndim - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"weight: expected a 3-D, 4-D or 5-D weight, got shape {w.shape}")
    call = prepare_conv(spatial, x, w, None, stride, padding, dilation, groups, padding_mode, None)
    return _core.conv_algorithm(list(call.x.shape), list(call.w.shape), call.geometry(), algorithm)


def _groups(groups: Any, channels: int, weight_shape: tuple[int, ...]) -> int:
    g = as_int(groups, "groups")
    if g <= 0:
        raise ValueError(f"groups: must be positive, got {g}")
    if channels % g:
        raise ValueError(f"groups: input channels {channels} are not divisible by groups={g}")
    if weight_shape[0] % g:
        raise ValueError(f"groups: out_channels {weight_shape[0]} (weight dim 0) are not divisible by groups={g}")
    if weight_shape[1] * g != channels:
        raise ValueError(
            f"weight: given groups={g} and weight of shape {tuple(weight_shape)}, expected input with "
            f"{weight_shape[1] * g} channels, got {channels}"
        )
    return g


_CONV_DOC = """{d}-D convolution (cross-correlation), as ``torch.nn.functional.conv{d}d``.

    input: ``(N, C, {sp})`` or unbatched ``(C, {sp})``; weight:
    ``(O, C/groups, {ks})``; bias: ``(O,)`` or None. ``padding`` is an int, a
    tuple per axis, ``"valid"`` or ``"same"``; ``padding_mode`` is one of
    ``zeros``, ``reflect``, ``replicate``, ``circular`` (as ``nn.Conv{d}d``).
    ``threads=None`` uses every core; the result is bit-identical for every
    thread count, and each image's result is the same whatever batch it is
    computed in. ``algorithm`` forces a kernel: ``"im2col"`` (any shape, the
    reference), ``"implicit_gemm"`` (own AVX-512 or AVX2 tiles reading each kernel
    tap straight from a padded, stride-split band of input rows, no im2col
    matrix: any shape), ``"winograd"`` (F(2x2, 3x3):
    3x3 in height and width, stride 1, no dilation there, any groups; in
    3-D any depth window, as one 2-D kernel per depth tap; and F(2, 3) along
    the depth for 3-D kernels 3 deep with depth stride 1 and no depth
    dilation, zero padding, at most 4 input and at least 16 output channels
    per group: video stems), ``"depthwise"`` (direct kernels:
    groups > 1 with at most 8 input channels per group); ``"auto"`` picks by
    shape alone (see ``conv_algorithm``).
"""


def conv1d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, padding_mode: str = "zeros", *,
           threads: Optional[int] = None, algorithm: str = "auto") -> FloatArray:
    return _conv(1, input, weight, bias, stride, padding, dilation, groups, padding_mode, threads, algorithm)


def conv2d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, padding_mode: str = "zeros", *,
           threads: Optional[int] = None, algorithm: str = "auto") -> FloatArray:
    return _conv(2, input, weight, bias, stride, padding, dilation, groups, padding_mode, threads, algorithm)


def conv3d(input: ArrayLike, weight: ArrayLike, bias: Optional[ArrayLike] = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, padding_mode: str = "zeros", *,
           threads: Optional[int] = None, algorithm: str = "auto") -> FloatArray:
    return _conv(3, input, weight, bias, stride, padding, dilation, groups, padding_mode, threads, algorithm)


conv1d.__doc__ = _CONV_DOC.format(d=1, sp="L", ks="k")
conv2d.__doc__ = _CONV_DOC.format(d=2, sp="H, W", ks="kh, kw")
conv3d.__doc__ = _CONV_DOC.format(d=3, sp="D, H, W", ks="kd, kh, kw")


def _window_args(kernel_size, dilation, padding, stride) -> tuple[tuple[int, ...], ...]:
    return (
        positive(kernel_size, 2, "kernel_size"),
        positive(dilation, 2, "dilation"),
        non_negative(padding, 2, "padding"),
        positive(stride, 2, "stride"),
    )


def unfold(input: ArrayLike, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
           stride: IntOrTuple = 1, *, threads: Optional[int] = None) -> FloatArray:
    """im2col, as ``torch.nn.functional.unfold``: ``(N, C, H, W)`` (or
    ``(C, H, W)``) to ``(N, C*kh*kw, L)``, one column per sliding block."""
    x = float_array(input, "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"input: expected a 3-D (unbatched) or 4-D (batched) array, got shape {x.shape}")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    kernel, dilations, pads, strides = _window_args(kernel_size, dilation, padding, stride)
    out_hw = conv_output_size(tuple(x.shape[2:]), kernel, strides, pads, dilations)
    check_allocation((x.shape[0], x.shape[1] * kernel[0] * kernel[1], out_hw[0] * out_hw[1]), x.dtype, "unfold output")
    cols = _core.unfold(c_contiguous(x, x.dtype), list(kernel), list(dilations), list(pads), list(strides),
                        threads_arg(threads))
    return cols[0] if unbatched else cols


def fold(input: ArrayLike, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
         padding: IntOrTuple = 0, stride: IntOrTuple = 1, *, threads: Optional[int] = None) -> FloatArray:
    """col2im, as ``torch.nn.functional.fold``: ``(N, C*kh*kw, L)`` (or
    ``(C*kh*kw, L)``) to ``(N, C, *output_size)``, summing overlapping values."""
    cols = float_array(input, "input")
    if cols.ndim not in (2, 3):
        raise ValueError(f"input: expected a 2-D (unbatched) or 3-D (batched) array, got shape {cols.shape}")
    unbatched = cols.ndim == 2
    if unbatched:
        cols = cols[None]
    size = positive(output_size, 2, "output_size")
    kernel, dilations, pads, strides = _window_args(kernel_size, dilation, padding, stride)
    taps = kernel[0] * kernel[1]
    if cols.shape[1] % taps:
        raise ValueError(
            f"input: dimension 1 ({cols.shape[1]}) must be divisible by the product of kernel_size ({taps})"
        )
    blocks = conv_output_size(size, kernel, strides, pads, dilations)
    if blocks[0] * blocks[1] != cols.shape[2]:
        raise ValueError(
            f"input: given output_size={size}, kernel_size={kernel}, dilation={dilations}, padding={pads}, "
            f"stride={strides}, expected dimension 2 to be {blocks[0] * blocks[1]} sliding blocks, got {cols.shape[2]}"
        )
    check_allocation((cols.shape[0], cols.shape[1] // taps, *size), cols.dtype, "fold output")
    out = _core.fold(c_contiguous(cols, cols.dtype), list(size), list(kernel), list(dilations), list(pads),
                     list(strides), threads_arg(threads))
    return out[0] if unbatched else out
