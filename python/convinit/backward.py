"""Gradients of the convolution and the transposed convolution, with
PyTorch's semantics (``torch.autograd`` of ``F.conv1d``, ``F.conv2d`` and
``F.conv3d``, and ``F.conv_transpose2d``)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _core
from ._args import ArrayLike, FloatArray, IntOrTuple, Padding, as_int, non_negative, positive, threads_arg
from ._arrays import c_contiguous, check_allocation, float_array, same_dtype
from .conv import prepare_conv

__all__ = ["conv1d_backward", "conv2d_backward", "conv3d_backward", "conv_transpose2d"]


def _output_mask(mask: Any) -> tuple[bool, bool, bool]:
    """Three flags (input, weight, bias); only real booleans, so a string or
    a list of ints is not silently read as 'everything'."""
    if isinstance(mask, (str, bytes)) or not hasattr(mask, "__iter__"):
        raise TypeError(f"output_mask: expected three booleans (input, weight, bias), got {mask!r}")
    values = tuple(mask)
    if len(values) != 3:
        raise ValueError(f"output_mask: expected three booleans (input, weight, bias), got {len(values)}")
    if not all(isinstance(m, (bool, np.bool_)) for m in values):
        raise TypeError(f"output_mask: expected three booleans (input, weight, bias), got {values!r}")
    return tuple(bool(m) for m in values)  # type: ignore[return-value]


def _conv_backward(
    spatial: int,
    input: ArrayLike,
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: int,
    output_mask: Sequence[bool],
    padding_mode: str,
    threads: Optional[int],
) -> tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]]:
    """``conv{spatial}d_backward``: the arguments checked as the forward
    call checks them, then the gradients ``output_mask`` asks for."""
    want_input, want_weight, want_bias = _output_mask(output_mask)
    call = prepare_conv(spatial, input, weight, None, stride, padding, dilation, groups, padding_mode, threads)
    dy = float_array(grad_output, "grad_output")
    same_dtype({"input": call.x, "grad_output": dy})
    if call.unbatched and dy.ndim == spatial + 1:
        dy = dy[None]
    if dy.shape != call.output_shape:
        expected = call.output_shape[1:] if call.unbatched else call.output_shape
        raise ValueError(
            f"grad_output: expected shape {expected} (the conv{spatial}d output), got {np.shape(grad_output)}"
        )
    dy = c_contiguous(dy, call.dtype, "grad_output")
    grad_input = grad_weight = grad_bias = None
    if want_input:
        check_allocation(call.x.shape, call.dtype, "grad_input")
        grad_input = call.unbatch(
            _core.conv_backward_input(call.w, dy, list(call.x.shape), call.geometry(), call.threads)
        )
    if want_weight:
        check_allocation(call.w.shape, call.dtype, "grad_weight")
        grad_weight = _core.conv_backward_weight(call.x, dy, list(call.w.shape), call.geometry(), call.threads)
    if want_bias:
        # One fixed-order reduction in float64, rounded once.
        axes = (0, *range(2, 2 + spatial))
        grad_bias = dy.sum(axis=axes, dtype=np.float64).astype(call.dtype)
    return grad_input, grad_weight, grad_bias


def conv1d_backward(
    input: ArrayLike,
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    output_mask: Sequence[bool] = (True, True, True),
    *,
    padding_mode: str = "zeros",
    threads: Optional[int] = None,
) -> tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]]:
    """Gradients of ``conv1d(input, weight, bias, ...)`` given ``grad_output``:
    ``conv2d_backward`` for inputs ``(N, C, L)`` or ``(C, L)``."""
    return _conv_backward(1, input, weight, grad_output, stride, padding, dilation, groups, output_mask,
                          padding_mode, threads)


def conv2d_backward(
    input: ArrayLike,
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    output_mask: Sequence[bool] = (True, True, True),
    *,
    padding_mode: str = "zeros",
    threads: Optional[int] = None,
) -> tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]]:
    """Gradients of ``conv2d(input, weight, bias, ...)`` given ``grad_output``.

    Returns ``(grad_input, grad_weight, grad_bias)``, each None where
    ``output_mask`` is False (and its work is skipped). Every padding mode
    is supported: the input gradient of reflected/replicated/circular
    padding flows back to the input elements the padding copied. Results
    are bit-identical for every thread count.
    """
    return _conv_backward(2, input, weight, grad_output, stride, padding, dilation, groups, output_mask,
                          padding_mode, threads)


def conv3d_backward(
    input: ArrayLike,
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    output_mask: Sequence[bool] = (True, True, True),
    *,
    padding_mode: str = "zeros",
    threads: Optional[int] = None,
) -> tuple[Optional[FloatArray], Optional[FloatArray], Optional[FloatArray]]:
    """Gradients of ``conv3d(input, weight, bias, ...)`` given ``grad_output``:
    ``conv2d_backward`` for inputs ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""
    return _conv_backward(3, input, weight, grad_output, stride, padding, dilation, groups, output_mask,
                          padding_mode, threads)


def conv_transpose2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: Optional[ArrayLike] = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    threads: Optional[int] = None,
) -> FloatArray:
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``.

    input ``(N, C_in, H, W)`` or ``(C_in, H, W)``; weight ``(C_in, C_out/groups,
    kh, kw)``; output ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1``.
    It is the gradient of ``conv2d`` with respect to its input.
    """
    x = float_array(input, "input")
    w = float_array(weight, "weight")
    b = None if bias is None else float_array(bias, "bias")
    dtype = same_dtype({"input": x, "weight": w, "bias": b})
    if x.ndim not in (3, 4):
        raise ValueError(f"input: expected a 3-D (unbatched) or 4-D (batched) input, got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"weight: expected a 4-D weight (in, out/groups, kh, kw), got shape {w.shape}")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    g = as_int(groups, "groups")
    if g <= 0 or x.shape[1] % g:
        raise ValueError(f"groups: must be a positive divisor of the {x.shape[1]} input channels, got {groups}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"weight: expected {x.shape[1]} input channels (weight dim 0), got {w.shape[0]}")
    out_channels = w.shape[1] * g
    if b is not None and b.shape != (out_channels,):
        raise ValueError(f"bias: expected shape ({out_channels},), got {b.shape}")
    strides = positive(stride, 2, "stride")
    dilations = positive(dilation, 2, "dilation")
    pads = non_negative(padding, 2, "padding")
    extra = non_negative(output_padding, 2, "output_padding")
    for op, s, d in zip(extra, strides, dilations):
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding: must be smaller than either stride or dilation, got output_padding={extra}, "
                f"stride={strides}, dilation={dilations}"
            )
    out_hw = tuple(
        (h - 1) * s - 2 * p + d * (k - 1) + op + 1
        for h, s, p, d, k, op in zip(x.shape[2:], strides, pads, dilations, w.shape[2:], extra)
    )
    if min(out_hw) <= 0:
        raise ValueError(
            f"padding: the output size {out_hw} would not be positive (input {x.shape[2:]}, padding {pads}, "
            f"kernel {w.shape[2:]})"
        )
    out_shape = (x.shape[0], out_channels, *out_hw)
    check_allocation(out_shape, dtype, "conv_transpose2d output")
    # The convolution this transposes maps out_shape to at least x's size;
    # where output_padding >= stride it has one more position, which the
    # transposed input leaves at zero.
    conv_out = [(o + 2 * p - d * (k - 1) - 1) // s + 1
                for o, p, d, k, s in zip(out_hw, pads, dilations, w.shape[2:], strides)]
    if tuple(conv_out) == x.shape[2:]:
        dy = c_contiguous(x, dtype)
    else:
        dy = np.zeros((x.shape[0], x.shape[1], *conv_out), dtype)
        dy[:, :, : x.shape[2], : x.shape[3]] = x
    geometry = (list(strides), list(dilations), list(pads), list(pads), g, "zeros")
    weight = c_contiguous(w, dtype, "weight")
    out = _core.conv_backward_input(weight, dy, list(out_shape), geometry, threads_arg(threads))
    if b is not None:
        out += b.astype(dtype)[None, :, None, None]
    return out[0] if unbatched else out
