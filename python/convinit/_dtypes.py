"""The dtypes fills produce: float32, float64, and the 16-bit formats
bfloat16 (NumPy arrays of ``ml_dtypes.bfloat16``) and float16, whose values
are the float32 fill's rounded to nearest even. The core writes 16-bit
formats as uint16 bit patterns; these helpers convert between the views."""

from __future__ import annotations

from typing import Any

import numpy as np

WIDE = ("float32", "float64")
HALVES = ("bfloat16", "float16")
FILL_DTYPES = WIDE + HALVES


def dtype_name(dtype: Any) -> str:
    """One of FILL_DTYPES from a name, NumPy/ml_dtypes dtype or torch dtype;
    TypeError naming ``dtype`` otherwise."""
    name = str(dtype).replace("torch.", "")
    if name not in FILL_DTYPES:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name not in FILL_DTYPES:
        expected = ", ".join(FILL_DTYPES)
        raise TypeError(f"dtype: expected one of {expected}, got {dtype!r}")
    return name


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a fill dtype name (bfloat16 from ml_dtypes)."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise TypeError("dtype: bfloat16 arrays need the ml_dtypes package (pip install ml_dtypes)") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def from_bits(values: np.ndarray, name: str) -> np.ndarray:
    """The core's output as an array of ``name`` (a view, no copy)."""
    return values.view(numpy_dtype(name)) if name in HALVES else values


def core_view(array: np.ndarray) -> np.ndarray:
    """What the core writes into for ``array``: uint16 bit patterns for the 16-bit formats."""
    return array.view(np.uint16) if array.dtype.name in HALVES else array


def torch_core_view(tensor: Any) -> np.ndarray:
    """A NumPy array sharing a contiguous CPU tensor's memory (16-bit formats as uint16)."""
    import torch

    if tensor.dtype in (torch.bfloat16, torch.float16):
        return tensor.detach().view(torch.int16).numpy().view(np.uint16)
    return tensor.detach().numpy()


def torch_dtypes() -> dict:
    import torch

    return {torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def to_torch(values: np.ndarray) -> Any:
    """A torch tensor of the same dtype and values (16-bit formats via their bits)."""
    import torch

    if values.dtype.name in HALVES:
        bits = torch.from_numpy(np.ascontiguousarray(values).view(np.int16))
        return bits.view(torch.bfloat16 if values.dtype.name == "bfloat16" else torch.float16)
    return torch.from_numpy(values)
