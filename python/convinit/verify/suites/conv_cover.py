"""A covering array (all pairs) for the conv suite: every pair of values of
any two factors (dims, stride, padding, dilation, groups, padding mode,
bias, dtype, batched) appears in some case, with the one constraint PyTorch
imposes ("same" padding needs stride 1). A parameter a kernel mishandles
for some value therefore meets every value of every other parameter.

Built greedily (in the spirit of AETG, Cohen et al. 1997): each new case
starts from an uncovered pair and fills the other factors with the values
that cover the most uncovered pairs; deterministic, no randomness.
"""

from __future__ import annotations

import itertools
from typing import Any

FACTORS: dict[str, tuple] = {
    "dims": (1, 2, 3),
    "stride": ("1", "2", "tuple"),
    "padding": ("0", "1", "tuple", "same-odd", "same-even", "valid"),
    "dilation": ("1", "3", "tuple"),
    "groups": ("1", "some", "depthwise"),
    "padding_mode": ("zeros", "reflect", "replicate", "circular"),
    "bias": (True, False),
    "dtype": ("float32", "float64"),
    "batched": (True, False),
}
NAMES = tuple(FACTORS)


def allowed(row: dict[str, Any]) -> bool:
    """PyTorch's constraint: padding "same" only with stride 1. And a padding
    mode is only paired with some padding (with none, every mode is the same)."""
    padding = str(row.get("padding", "1"))
    same_with_stride = padding.startswith("same") and row.get("stride", "1") != "1"
    mode_without_padding = padding in ("0", "valid") and row.get("padding_mode", "zeros") != "zeros"
    return not (same_with_stride or mode_without_padding)


def _pairs(row: dict[str, Any]) -> set:
    keys = [k for k in NAMES if k in row]
    return {((a, row[a]), (b, row[b])) for a, b in itertools.combinations(keys, 2)}


def required_pairs() -> set:
    out = set()
    for a, b in itertools.combinations(NAMES, 2):
        for va, vb in itertools.product(FACTORS[a], FACTORS[b]):
            if allowed({a: va, b: vb}):
                out.add(((a, va), (b, vb)))
    return out


def covering_array() -> list[dict[str, Any]]:
    """Rows (factor -> value) that together cover every allowed pair."""
    uncovered = required_pairs()
    rows = []
    while uncovered:
        (a, va), (b, vb) = min(uncovered, key=lambda p: (NAMES.index(p[0][0]), NAMES.index(p[1][0]), str(p)))
        row = {a: va, b: vb}
        for name in NAMES:
            if name in row:
                continue
            candidates = [v for v in FACTORS[name] if allowed({**row, name: v})]
            row[name] = max(candidates, key=lambda v: len(_pairs({**row, name: v}) & uncovered))
        uncovered -= _pairs(row)
        rows.append(row)
    return rows


def spatial(dims: int, values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(values[:dims])


def conv_arguments(row: dict[str, Any]) -> dict[str, Any]:
    """Concrete shapes and arguments for a row: kernels differ per axis (so a
    transposed or flipped kernel shows), "same-even" has an even kernel,
    sizes leave room for the widest reflect padding."""
    dims = row["dims"]
    kernel = spatial(dims, (4, 3, 2) if row["padding"] == "same-even" else (3, 5, 3))
    stride = {"1": 1, "2": 2, "tuple": spatial(dims, (2, 1, 3)) if dims > 1 else (3,)}[row["stride"]]
    # an odd dilation keeps "same" with an even kernel asymmetric (total padding d*(k-1) odd)
    dilation: Any = {"1": 1, "3": 3, "tuple": spatial(dims, (1, 2, 2)) if dims > 1 else (2,)}[row["dilation"]]
    padding = {"0": 0, "1": 1, "tuple": spatial(dims, (2, 0, 1)) if dims > 1 else (2,), "same-odd": "same",
               "same-even": "same", "valid": "valid"}[row["padding"]]
    dil = (dilation,) * dims if isinstance(dilation, int) else dilation * (dims // len(dilation))
    size = tuple(d * (k - 1) + 4 + axis for axis, (k, d) in enumerate(zip(kernel, dil)))
    channels, out_channels, groups = {"1": (3, 4, 1), "some": (4, 6, 2), "depthwise": (4, 4, 4)}[row["groups"]]
    return dict(dims=dims, batch=2 if row["batched"] else None, channels=channels, size=size,
                out_channels=out_channels, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                groups=groups, padding_mode=row["padding_mode"], bias=row["bias"])
