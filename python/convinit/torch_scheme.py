"""PyTorch's default initial weights, bit for bit: what ``torch.manual_seed(s);
Model()`` gives every parameter, from :class:`TorchGenerator` (no torch needed).

:func:`torch_parameters` takes the parameters as a list of ``(name, shape,
kind)`` in the order the model's constructor draws them, so a NumPy or JAX
user gets PyTorch's initial weights without torch. :func:`torch_entries`
derives that list from a torch module; ``init_module(model, scheme="torch",
seed=s)`` applies both.

Kinds (each one layer's ``reset_parameters`` rule):

- ``"weight"``: Linear/Conv/ConvTranspose weight, ``kaiming_uniform_(a=sqrt(5))``;
- ``"bias"``: Linear/Conv bias, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  fan_in of the last ``"weight"`` before it (U(0, 0) when fan_in is 0, still drawn);
- ``"zeroed_bias"``: drawn as ``"bias"``, then set to 0 (MultiheadAttention's
  ``out_proj.bias``);
- ``"embedding"`` or ``("embedding", padding_idx)``: N(0, 1), the row
  ``padding_idx`` then set to 0;
- ``("rnn", hidden_size)``: RNN/LSTM/GRU tensors, U(-1/sqrt(hidden), 1/sqrt(hidden));
- ``"xavier_uniform"``, ``"xavier_normal"``: those fills with gain 1;
- ``"ones"``, ``"zeros"``: norm layers' affine parameters (nothing drawn).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from . import init
from ._args import as_int
from .torchgen import DEFAULT_SEED, TorchGenerator, is_torch_generator

__all__ = ["torch_parameters", "torch_entries", "init_module_like_torch", "KINDS"]

KINDS = ("weight", "bias", "zeroed_bias", "embedding", "rnn", "xavier_uniform", "xavier_normal", "ones",
         "zeros")


def _kind(kind: Any, name: str) -> tuple[str, Optional[int]]:
    if isinstance(kind, str):
        base, extra = kind, None
    elif isinstance(kind, (tuple, list)) and len(kind) == 2 and isinstance(kind[0], str):
        base, extra = kind[0], (None if kind[1] is None else as_int(kind[1], f"{name}: kind"))
    else:
        raise TypeError(f"{name}: kind must be a string or a (kind, int) pair, got {kind!r}")
    if base not in KINDS:
        raise ValueError(f"{name}: kind must be one of {', '.join(KINDS)}, got {base!r}")
    if base == "rnn" and extra is None:
        raise ValueError(f"{name}: kind 'rnn' needs the hidden size: ('rnn', hidden_size)")
    return base, extra


def _bias_bound(fan_in: Optional[int], name: str) -> float:
    if fan_in is None:
        raise ValueError(f"{name}: a bias needs a 'weight' entry before it (its fan_in sets the bound)")
    return 1 / math.sqrt(fan_in) if fan_in > 0 else 0


def _fill(array: np.ndarray, kind: str, extra: Optional[int], fan_in: Optional[int], name: str, generator: Any) -> None:
    if kind == "weight":
        init.kaiming_uniform_(array, a=math.sqrt(5), generator=generator)
    elif kind in ("bias", "zeroed_bias"):
        bound = _bias_bound(fan_in, name)
        init.uniform_(array, -bound, bound, generator=generator)
        if kind == "zeroed_bias":
            array[...] = 0
    elif kind == "embedding":
        init.normal_(array, generator=generator)
        if extra is not None:
            array[extra] = 0
    elif kind == "rnn":
        bound = 1.0 / math.sqrt(extra) if extra and extra > 0 else 0
        init.uniform_(array, -bound, bound, generator=generator)
    elif kind in ("xavier_uniform", "xavier_normal"):
        getattr(init, kind + "_")(array, generator=generator)
    else:
        array[...] = 1 if kind == "ones" else 0


def torch_parameters(entries: Sequence[Sequence[Any]], *, seed: Any = None, generator: Any = None,
                     dtype: Any = "float32") -> dict[str, np.ndarray]:
    """``{name: array}`` with PyTorch's initial values for ``entries``, a list
    of ``(name, shape, kind)`` or ``(name, shape, kind, dtype)`` in the order
    the model's constructor creates them. Draws from ``generator`` (a
    :class:`TorchGenerator` or ``torch.Generator``, advanced) or a new
    ``TorchGenerator(seed)`` (``seed`` None: torch's default seed)."""
    if generator is not None and seed is not None:
        raise ValueError("seed, generator: give at most one of them")
    if generator is None:
        generator = TorchGenerator(DEFAULT_SEED if seed is None else seed)
    elif not is_torch_generator(generator):
        raise TypeError(f"generator: expected a TorchGenerator or torch.Generator, got {type(generator).__name__}")
    out: dict[str, np.ndarray] = {}
    fan_in: Optional[int] = None
    for entry in entries:
        if isinstance(entry, (str, bytes)) or len(entry) not in (3, 4):
            raise TypeError(f"entries: expected (name, shape, kind[, dtype]) tuples, got {entry!r}")
        name, shape, kind = entry[0], entry[1], entry[2]
        if name in out:
            raise ValueError(f"entries: the name {name!r} appears twice")
        base, extra = _kind(kind, name)
        array = init.zeros(shape, dtype=entry[3] if len(entry) == 4 else dtype)
        if base == "weight" and array.ndim < 2:
            raise ValueError(f"{name}: a 'weight' needs at least 2 dimensions, got shape {array.shape}")
        _fill(array, base, extra, fan_in, name, generator)
        if base == "weight":
            fan_in = init.fans(array.shape)[0]
        out[name] = array
    return out


# ---- torch modules -> entries ------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _module_entries(prefix: str, module: Any) -> list[tuple]:
    """The entries of one module's own parameters, in its draw order."""
    from torch import nn

    params = dict(module.named_parameters(recurse=False))
    full = {name: _join(prefix, name) for name in params}

    def entry(name: str, kind: Any) -> tuple:
        p = params[name]
        return (full[name], tuple(p.shape), kind, str(p.dtype).replace("torch.", ""))

    if isinstance(module, nn.MultiheadAttention):
        out_proj = _module_entries(_join(prefix, "out_proj"), module.out_proj)
        if module.out_proj.bias is not None and module.in_proj_bias is not None:
            out_proj[-1] = (*out_proj[-1][:2], "zeroed_bias", out_proj[-1][3])
        own = [entry(n, "xavier_uniform") for n in ("in_proj_weight", "q_proj_weight", "k_proj_weight",
                                                    "v_proj_weight") if n in params]
        own += [entry("in_proj_bias", "zeros")] if "in_proj_bias" in params else []
        own += [entry(n, "xavier_normal") for n in ("bias_k", "bias_v") if n in params]
        return out_proj + own
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        return [entry("weight", "weight")] + ([entry("bias", "bias")] if "bias" in params else [])
    if isinstance(module, nn.Embedding):
        return [entry("weight", ("embedding", module.padding_idx))]
    if isinstance(module, nn.RNNBase):
        return [entry(name, ("rnn", module.hidden_size)) for name in params]
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
        return [entry(name, "ones" if name == "weight" else "zeros") for name in params]
    if params:
        raise TypeError(f"module: scheme 'torch' does not know how {type(module).__name__} ({prefix or 'the root'}) "
                        "initializes its parameters")
    return []


def torch_entries(module: Any) -> list[tuple]:
    """``(name, shape, kind, dtype)`` of every parameter of a torch module, in
    the order its constructor draws them: submodules in registration order,
    a MultiheadAttention's ``out_proj`` before its own tensors (it is built,
    and drawn, first)."""
    from torch import nn

    entries: list[tuple] = []
    done: set[int] = set()
    for prefix, sub in module.named_modules():
        if id(sub) in done:
            continue
        if isinstance(sub, nn.MultiheadAttention):
            done.add(id(sub.out_proj))
        entries += _module_entries(prefix, sub)
    return entries


def init_module_like_torch(module: Any, seed: Any = None, generator: Any = None) -> Any:
    """Gives every parameter of ``module`` the value ``torch.manual_seed(seed)``
    followed by constructing the module gives it (norm layers' running
    statistics are reset as their constructors leave them). Parameters keep
    their dtype; the draws are in that dtype."""
    import torch
    from torch import nn

    values = torch_parameters(torch_entries(module), seed=seed, generator=generator)
    named = dict(module.named_parameters())
    with torch.no_grad():
        for name, array in values.items():
            named[name].copy_(torch.from_numpy(array))
        for sub in module.modules():
            if isinstance(sub, nn.modules.batchnorm._NormBase):
                sub.reset_running_stats()
    return module
