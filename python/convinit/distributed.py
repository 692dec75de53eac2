"""``convinit.distributed``: the same weights for every parallelism (needs torch).

* The in-place fills of :mod:`convinit.init` accept a
  ``torch.distributed.tensor.DTensor`` and fill only this rank's local
  shard, as the region of the global tensor its placements give it
  (``Shard`` on any dim, ``Replicate``, uneven shards, n-d meshes), so the
  global tensor is bit-identical to the single-process fill. Nothing is
  communicated.
* :func:`parameter_stream`: the stream of a parameter named by its
  fully-qualified name, ``init_module``'s default, so adding or removing a
  layer leaves every other layer's weights unchanged.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from .random import Generator, seed_arg

__all__ = ["is_dtensor", "local_region", "parameter_stream", "parameter_generator"]


def is_dtensor(obj: Any) -> bool:
    """Whether ``obj`` is a DTensor (without importing torch.distributed)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(obj, module.DTensor)


def parameter_stream(seed: Any, name: str) -> int:
    """The Philox stream of the parameter ``name`` (its fully-qualified name,
    e.g. ``"layers.3.attn.q_proj.weight"``): the first 8 bytes, read as a
    little-endian integer, of SHA-256 over the seed as 8 little-endian bytes
    followed by the name in UTF-8. Stable across versions and machines."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a parameter name (str), got {type(name).__name__}")
    digest = hashlib.sha256(seed_arg(seed).to_bytes(8, "little") + name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def parameter_generator(seed: Any, name: str) -> Generator:
    """A Generator whose next draw is the stream of parameter ``name``."""
    return Generator(seed, parameter_stream(seed, name))


def _check_placements(dtensor: Any) -> None:
    from torch.distributed.tensor import Replicate, Shard

    for dim, placement in enumerate(dtensor.placements):
        # Strided shards (FSDP2 over a dim TP already shards) are not one
        # rectangular block of the global tensor, and Partial holds no values.
        if type(placement) not in (Shard, Replicate):
            raise ValueError(f"tensor: placement {placement} on mesh dim {dim} is not supported; "
                             "convinit fills DTensors placed with Shard(d) and Replicate()")


def local_region(dtensor: Any) -> tuple[tuple[int, int], ...]:
    """This rank's block of the global tensor: one (start, stop) per axis."""
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    _check_placements(dtensor)
    local_shape, offset = compute_local_shape_and_global_offset(dtensor.shape, dtensor.device_mesh,
                                                                 dtensor.placements)
    return tuple((int(o), int(o) + int(n)) for o, n in zip(offset, local_shape))


def local_block(dtensor: Any, shape: Any, region: Any) -> tuple[Any, tuple[int, ...], tuple[tuple[int, int], ...]]:
    """(local tensor, global shape, region) of a DTensor, for an in-place fill."""
    if shape is not None or region is not None:
        raise ValueError("shape, region: a DTensor's region is given by its placements; pass neither")
    region = local_region(dtensor)
    local = dtensor._local_tensor  # the shard's storage itself (to_local() may be a view with autograd history)
    if tuple(local.shape) != tuple(b - a for a, b in region):
        raise ValueError(f"tensor: local shard of shape {tuple(local.shape)} is not the block {region} "
                         "its placements give")
    return local, tuple(int(d) for d in dtensor.shape), region
