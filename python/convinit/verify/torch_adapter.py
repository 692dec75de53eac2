"""PyTorch behind convinit's signatures: the ``torch`` backend, and the
float64 reference for convolution and unfold/fold when torch is installed.

NumPy in, NumPy out; fills seed a ``torch.Generator`` with ``seed``.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import warnings
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .reference import resolve_padding, spatial_tuple

_threads_lock = threading.Lock()


def _tensor(array: Any) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


@contextlib.contextmanager
def _torch_threads(threads: Any) -> Iterator[None]:
    """``threads=n`` runs torch's intra-op pool with n threads for the call."""
    if threads is None:
        yield
        return
    with _threads_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _conv(dims: int) -> Callable:
    functional = getattr(F, f"conv{dims}d")

    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", *,
             threads=None):
        x, w = _tensor(input), _tensor(weight)
        b = None if bias is None else _tensor(bias)
        if padding_mode != "zeros":
            # nn.ConvNd's non-zero padding modes: F.pad first (last axis first), then no padding.
            before, after = resolve_padding(padding, w.shape[2:], spatial_tuple(dilation, dims))
            x = F.pad(x, [p for pair in zip(before[::-1], after[::-1]) for p in pair], mode=padding_mode)
            padding = 0
        with warnings.catch_warnings(), _torch_threads(threads), torch.no_grad():
            warnings.simplefilter("ignore")  # torch warns about "same" with even kernels
            return functional(x, w, b, stride, padding, dilation, groups).numpy()

    conv.__name__ = conv.__qualname__ = f"conv{dims}d"
    return conv


conv1d, conv2d, conv3d = (_conv(d) for d in (1, 2, 3))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1, *, threads=None):
    return F.unfold(_tensor(input), kernel_size, dilation, padding, stride).numpy()


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *, threads=None):
    return F.fold(_tensor(input), output_size, kernel_size, dilation, padding, stride).numpy()


def fans(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(tuple(shape), device="meta"))


calculate_gain = torch.nn.init.calculate_gain


def _torch_fill(name: str) -> Callable:
    """``name(shape, *params, seed=, generator=, dtype=)`` running ``torch.nn.init.name_``."""
    init = getattr(torch.nn.init, name + "_")
    takes_generator = "generator" in inspect.signature(init).parameters

    def fill(shape, *args, seed=None, generator=None, dtype="float32", **params):
        tensor = torch.empty(tuple(shape), dtype=getattr(torch, np.dtype(dtype).name))
        if takes_generator:
            if generator is None:
                generator = torch.Generator()
                generator.manual_seed(seed) if seed is not None else generator.seed()
            params["generator"] = generator
        with torch.no_grad():
            init(tensor, *args, **params)
        return tensor.numpy()

    fill.__name__ = fill.__qualname__ = name
    fill.__signature__ = _fill_signature(init)
    return fill


def _fill_signature(init: Callable) -> inspect.Signature:
    """torch's ``init(tensor, ..., generator=None)`` as ``(shape, ..., *, seed, generator, dtype)``."""
    P = inspect.Parameter
    params = [p for p in list(inspect.signature(init).parameters.values())[1:] if p.name != "generator"]
    keyword = [P(n, P.KEYWORD_ONLY, default=d) for n, d in (("seed", None), ("generator", None), ("dtype", "float32"))]
    return inspect.Signature([P("shape", P.POSITIONAL_OR_KEYWORD)] + params + keyword)


(uniform, normal, trunc_normal, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, orthogonal, sparse,
 constant, zeros, ones, eye, dirac) = (_torch_fill(n) for n in (
    "uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "orthogonal", "sparse", "constant", "zeros", "ones", "eye", "dirac"))


def probe_scale(fill: str, shape: tuple[int, ...], **params: Any) -> float:
    """The std (``*_normal``) or bound (``*_uniform``) that ``torch.nn.init.<fill>_``
    uses for ``shape``, read off torch itself: its fill is ``scale * z`` for
    the ``z`` that ``normal_(0, 1)`` / ``uniform_(-1, 1)`` draws from the same
    generator state, so a least-squares fit recovers ``scale`` to rounding."""
    def draw(fn: Callable[[torch.Tensor, torch.Generator], Any]) -> torch.Tensor:
        tensor = torch.empty(shape, dtype=torch.float64)
        fn(tensor, torch.Generator().manual_seed(0))
        return tensor.ravel()

    init = getattr(torch.nn.init, fill + "_")
    with _torch_threads(1), torch.no_grad():   # tiny tensors: waking a thread pool costs more than the draw
        got = draw(lambda t, g: init(t, generator=g, **params))
        unit = draw(lambda t, g: t.uniform_(-1, 1, generator=g) if fill.endswith("uniform") else
                    t.normal_(0, 1, generator=g))
    scale = float((got @ unit) / (unit @ unit))
    if not torch.allclose(got, scale * unit, rtol=1e-12, atol=0):
        raise RuntimeError(f"torch.nn.init.{fill}_ is no longer a scaled {fill.split('_')[1]} draw; cannot probe it")
    return scale


def TorchGenerator(seed: int) -> torch.Generator:  # noqa: N802 (the backend function's name)
    """torch's own CPU generator, for the rng suite's PyTorch-stream checks."""
    return torch.Generator().manual_seed(seed)
