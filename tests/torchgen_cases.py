"""The cases of the shipped torch golden vectors (tests/data/torch_golden.json),
shared by the script that records them from torch and the tests that replay
them with convinit.TorchGenerator."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Callable

import numpy as np

SEEDS = (0, 1, 2**32 + 5, 2**63)
SIZES = (1, 15, 16, 17, 1000, 10**6)
DTYPES = ("float32", "float64")
LAYOUTS = ("contiguous", "strided")
# (name, positional args, keyword args) of torch.nn.init / convinit.init fills.
FILLS = (
    ("uniform_", (-0.5, 1.25), {}),
    ("normal_", (0.25, 1.5), {}),
    ("trunc_normal_", (0.0, 1.0, -2.0, 2.0), {}),
)
# Weight initializers on 2-D and 4-D shapes, contiguous and transposed.
WEIGHT_FILLS = (
    ("kaiming_uniform_", (), {"a": math.sqrt(5)}),
    ("kaiming_normal_", (), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("xavier_uniform_", (), {"gain": 1.5}),
    ("xavier_normal_", (), {}),
    ("trunc_normal_", (0.0, 0.02), {}),
)
WEIGHT_SHAPES = ((3, 5), (64, 27), (16, 3, 3, 3))


def cases() -> list[dict[str, Any]]:
    out = []
    for seed in SEEDS:
        for dtype in DTYPES:
            for name, args, kwargs in FILLS:
                for size in SIZES:
                    for layout in LAYOUTS:
                        if size == 10**6 and (layout != "contiguous" or seed not in (0, 2**63)):
                            continue
                        out.append(dict(seed=seed, dtype=dtype, fill=name, args=args, kwargs=kwargs, shape=(size,),
                                        layout=layout))
            for name, args, kwargs in WEIGHT_FILLS:
                for shape in WEIGHT_SHAPES:
                    for layout in ("contiguous", "transposed"):
                        out.append(dict(seed=seed, dtype=dtype, fill=name, args=args, kwargs=kwargs, shape=shape,
                                        layout=layout))
    return out


def case_id(case: dict[str, Any]) -> str:
    return f"{case['fill']}-{case['dtype']}-seed{case['seed']}-{'x'.join(map(str, case['shape']))}-{case['layout']}"


def empty(case: dict[str, Any], make: Callable[[tuple], Any]) -> Any:
    """A target of the case's shape and layout, from ``make(shape)`` (a
    C-contiguous allocation of the case's dtype, NumPy or torch)."""
    shape = tuple(case["shape"])
    if case["layout"] == "contiguous":
        return make(shape)
    if case["layout"] == "strided":
        return make(shape[:-1] + (2 * shape[-1],))[..., ::2]
    base = make(shape[::-1])
    return base.permute(*reversed(range(len(shape)))) if hasattr(base, "permute") else base.T


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


# Whole models, as the NumPy-only (name, shape, kind) entries of
# convinit.torch_scheme.torch_parameters; the recording script builds the
# same models in torch (MODEL_BUILDERS there) after torch.manual_seed(seed).
MODEL_ENTRIES = {
    "mlp": [
        ("0.weight", (64, 20), "weight"), ("0.bias", (64,), "bias"),
        ("2.weight", (10, 64), "weight"), ("2.bias", (10,), "bias"),
    ],
    "conv_lstm_embedding": [
        ("conv.weight", (8, 3, 3, 3), "weight"), ("conv.bias", (8,), "bias"),
        ("norm.weight", (8,), "ones"), ("norm.bias", (8,), "zeros"),
        ("embed.weight", (100, 16), ("embedding", 0)),
        ("lstm.weight_ih_l0", (48, 16), ("rnn", 12)), ("lstm.weight_hh_l0", (48, 12), ("rnn", 12)),
        ("lstm.bias_ih_l0", (48,), ("rnn", 12)), ("lstm.bias_hh_l0", (48,), ("rnn", 12)),
    ],
    "attention": [
        ("out_proj.weight", (16, 16), "weight"), ("out_proj.bias", (16,), "zeroed_bias"),
        ("in_proj_weight", (48, 16), "xavier_uniform"), ("in_proj_bias", (48,), "zeros"),
    ],
}
MODEL_SEEDS = (0, 2**63)
