"""``convinit.torch.Conv2d``: a drop-in ``torch.nn.Conv2d`` whose forward and
backward run convinit's kernels through a ``torch.autograd.Function`` (CPU
tensors only)."""

from __future__ import annotations

import inspect
from typing import Any, Optional

import torch
from torch import nn

from .._args import as_int, conv_padding, one_of, positive, threads_arg
from ..backward import conv2d_backward
from ..conv import PADDING_MODES, conv2d

__all__ = ["Conv2d", "conv2d_function"]


def _as_numpy(tensor: Optional[torch.Tensor]):
    return None if tensor is None else tensor.detach().numpy()


def _as_tensor(array) -> Optional[torch.Tensor]:
    return None if array is None else torch.from_numpy(array)


class _Conv2dFunction(torch.autograd.Function):
    """conv2d with convinit's forward and backward kernels."""

    @staticmethod
    def forward(ctx, input, weight, bias, stride, padding, dilation, groups, padding_mode, threads):
        ctx.save_for_backward(input, weight)
        ctx.config = (stride, padding, dilation, groups, padding_mode, threads, bias is not None)
        out = conv2d(_as_numpy(input), _as_numpy(weight), _as_numpy(bias), stride, padding, dilation, groups,
                     padding_mode, threads=threads)
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        stride, padding, dilation, groups, padding_mode, threads, has_bias = ctx.config
        mask = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2])
        grads = conv2d_backward(_as_numpy(input), _as_numpy(weight), _as_numpy(grad_output), stride, padding,
                                dilation, groups, mask, padding_mode=padding_mode, threads=threads)
        return (*(_as_tensor(g) for g in grads), None, None, None, None, None, None)


def _check_tensor(name: str, tensor: Optional[torch.Tensor]) -> None:
    if tensor is None:
        return
    if tensor.device.type != "cpu":
        raise TypeError(f"{name}: convinit.torch runs on CPU tensors only, got a tensor on {tensor.device}")
    if tensor.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name}: expected dtype torch.float32 or torch.float64, got {tensor.dtype}")


def conv2d_function(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride: Any = 1,
                    padding: Any = 0, dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros",
                    threads: Optional[int] = None) -> torch.Tensor:
    """Differentiable ``F.conv2d`` (plus ``padding_mode``) on convinit's kernels."""
    for name, tensor in (("input", input), ("weight", weight), ("bias", bias)):
        _check_tensor(name, tensor)
    return _Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups, padding_mode, threads)


_CONV2D_SIGNATURE = inspect.signature(nn.Conv2d.__init__)


def _check_channels(arguments: dict[str, Any]) -> None:
    channels = {name: as_int(arguments[name], name) for name in ("in_channels", "out_channels")}
    groups = as_int(arguments["groups"], "groups")
    if groups <= 0:
        raise ValueError(f"groups: must be positive, got {groups}")
    for name, count in channels.items():
        if count < 0:
            raise ValueError(f"{name}: must be non-negative, got {count}")
        if count % groups:
            raise ValueError(f"groups: {name} {count} is not divisible by groups={groups}")


def _check_module_args(args: tuple, kwargs: dict[str, Any]) -> None:
    """Every ``nn.Conv2d`` constructor argument, checked before torch
    allocates anything (torch accepts a zero stride or a negative padding
    here and only fails, if at all, in forward)."""
    try:
        bound = _CONV2D_SIGNATURE.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"Conv2d(): {exc}") from None
    bound.apply_defaults()
    arguments = bound.arguments
    _check_channels(arguments)
    kernel = positive(arguments["kernel_size"], 2, "kernel_size")
    stride = positive(arguments["stride"], 2, "stride")
    dilation = positive(arguments["dilation"], 2, "dilation")
    conv_padding(arguments["padding"], kernel, stride, dilation)
    one_of(arguments["padding_mode"], PADDING_MODES, "padding_mode")
    dtype = arguments["dtype"]
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype: expected None, torch.float32 or torch.float64, got {dtype!r}")
    device = arguments["device"]
    if device is not None and torch.device(device).type != "cpu":
        raise TypeError(f"device: convinit.torch runs on CPU only, got {device!r}")


class Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` with the same constructor, parameters, default
    initialization and ``state_dict``, computing with convinit.

    ``threads`` (keyword only) sets convinit's worker count; results are
    bit-identical for every value.
    """

    def __init__(self, *args: Any, threads: Optional[int] = None, **kwargs: Any) -> None:
        _check_module_args(args, kwargs)
        threads_arg(threads)
        super().__init__(*args, **kwargs)
        self.threads = threads

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        return conv2d_function(input, weight, bias, self.stride, self.padding, self.dilation, self.groups,
                               self.padding_mode, self.threads)
