"""``init_module``: initialize every Conv/Linear/BatchNorm/LSTM of a torch
module with convinit's seeded fills (text 003's ``init_param`` and text
004's ``create_weight``/``create_bias``, for any module tree)."""

from __future__ import annotations

import math
from typing import Any

from .. import init
from ..distributed import parameter_generator
from ..random import seed_arg

# Weight schemes: convinit.init fills taking (tensor, **options, generator=).
WEIGHT_SCHEMES = ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "orthogonal", "normal",
                  "uniform", "trunc_normal", "zeros")
TORCH_DEFAULT = "torch_default"
TORCH = "torch"


def _layers(module: Any) -> list[tuple[str, Any]]:
    from torch import nn

    kinds = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._NormBase, nn.RNNBase)
    return [(name, m) for name, m in module.named_modules() if isinstance(m, kinds)]


def _qualified(layer: str, parameter: str) -> str:
    return f"{layer}.{parameter}" if layer else parameter


def _torch_default(module: Any, name: str, seed: int) -> None:
    """torch's ``reset_parameters`` formulas, drawn from convinit's streams:
    Conv/Linear weights kaiming_uniform(a=sqrt(5)) and biases
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)); recurrent layers U(-1/sqrt(hidden),
    1/sqrt(hidden)) for every tensor; norms weight 1, bias 0."""
    from torch import nn

    def stream(parameter: str) -> Any:
        return parameter_generator(seed, _qualified(name, parameter))

    if isinstance(module, nn.RNNBase):
        bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
        for parameter, p in module.named_parameters(recurse=False):
            init.uniform_(p, -bound, bound, generator=stream(parameter))
        return
    if isinstance(module, nn.modules.batchnorm._NormBase):
        _norm(module)
        return
    init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=stream("weight"))
    if module.bias is not None:
        fan_in = init.fans(tuple(module.weight.shape))[0]
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(module.bias, -bound, bound, generator=stream("bias"))


def _materialize(module: Any) -> None:
    """Allocates a module built on the meta device on the CPU (DTensor
    parameters get their local shards only) and resets norm statistics."""
    from torch import nn

    tensors = [*module.parameters(), *module.buffers()]
    if not any(t.device.type == "meta" for t in tensors):
        return
    module.to_empty(device="cpu")
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            m.reset_running_stats()


def _norm(module: Any) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


def _like_torch(module: Any, seed: Any, options: dict) -> Any:
    """scheme="torch": exactly ``torch.manual_seed(seed); Model()``'s values,
    from convinit.TorchGenerator (see convinit.torch_scheme)."""
    from torch import nn

    from ..torch_scheme import init_module_like_torch

    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    unknown = set(options) - {"generator"}
    if unknown:
        raise TypeError(f"{', '.join(sorted(unknown))}: scheme 'torch' takes only seed= or generator=")
    generator = options.get("generator")
    return init_module_like_torch(module, seed=None if generator is not None else seed, generator=generator)


def init_module(module: Any, scheme: str = "kaiming_normal", *, seed: Any = 0, **options: Any) -> Any:
    """Initializes ``module`` in place and returns it.

    Every Conv/Linear weight and every LSTM/GRU/RNN weight matrix gets
    ``scheme`` (a ``convinit.init`` fill: ``kaiming_normal``, ``xavier_uniform``,
    ... with ``options`` such as ``mode``, ``nonlinearity``, ``gain``, ``std``),
    every bias zero, every BatchNorm weight 1 and bias 0. ``scheme=
    "torch_default"`` reproduces torch's ``reset_parameters`` formulas instead;
    ``scheme="torch"`` gives exactly the values ``torch.manual_seed(seed);
    Model()`` gives (PyTorch's own MT19937 stream, see
    ``convinit.torch_scheme``; ``generator=`` a TorchGenerator or
    torch.Generator instead of ``seed``).
    Otherwise each parameter draws from its own stream, derived from ``seed`` and its
    fully-qualified name (:func:`convinit.distributed.parameter_stream`), so
    a parameter's values depend on its name, shape and the scheme only:
    adding, removing or reordering other layers leaves them unchanged.
    (Before, tensors drew consecutive streams of ``Generator(seed)`` in
    ``named_modules`` order.) Parameters that are DTensors (FSDP2's
    ``fully_shard``, tensor parallelism's ``parallelize_module``) get their
    local shards of exactly the single-process values; a module on the meta
    device is first allocated on the CPU (``to_empty``), shard by shard.
    """
    if scheme == TORCH:
        return _like_torch(module, seed, options)
    if scheme != TORCH_DEFAULT and scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(WEIGHT_SCHEMES + (TORCH_DEFAULT, TORCH))}, got {scheme!r}")
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    if scheme == TORCH_DEFAULT and options:
        raise TypeError(f"{', '.join(options)}: scheme 'torch_default' takes no options, got {options}")
    seed = seed_arg(seed)
    fill: Any = getattr(init, scheme + "_", None)  # None for torch_default, which fills by layer type
    _materialize(module)
    for layer_name, layer in _layers(module):
        if scheme == TORCH_DEFAULT:
            _torch_default(layer, layer_name, seed)
        elif isinstance(layer, nn.modules.batchnorm._NormBase):
            _norm(layer)
        else:
            for name, p in layer.named_parameters(recurse=False):
                if name.startswith("weight"):
                    rng = {} if scheme == "zeros" else {"generator": parameter_generator(seed, _qualified(layer_name, name))}
                    fill(p, **options, **rng)
                else:
                    init.zeros_(p)
    return module
