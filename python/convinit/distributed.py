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
    from torch.distributed.tensor.placement_types import _StridedShard

    for dim, placement in enumerate(dtensor.placements):
        # Partial holds no values of the global tensor (a sum of them).
        if not isinstance(placement, (Shard, _StridedShard, Replicate)):
            raise ValueError(f"tensor: placement {placement} on mesh dim {dim} is not supported; "
                             "convinit fills DTensors placed with Shard(d), Replicate() and FSDP2's strided shards")


def _local_indices(dtensor: Any) -> tuple[list[int], dict]:
    """(local shape, {tensor dim: the global indices of this rank's shard
    along it}) as DTensor computes them: shardings applied in mesh order,
    FSDP2's ``_StridedShard`` included (with TP on the same dim)."""
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor._utils import _get_shard_size_and_offsets
    from torch.distributed.tensor.placement_types import _StridedShard

    mesh, global_shape = dtensor.device_mesh, tuple(int(d) for d in dtensor.shape)
    coordinate = mesh.get_coordinate()
    sizes: list[int] = list(global_shape)
    indices: dict[int, Any] = {}
    for mesh_dim, placement in enumerate(dtensor.placements):
        if isinstance(placement, (Shard, _StridedShard)):
            d = placement.dim
            sizes[d], indices[d] = _get_shard_size_and_offsets(sizes[d], mesh.size(mesh_dim), coordinate[mesh_dim],
                                                               placement, indices.get(d), global_shape[d], False)
    return sizes, indices


def local_region(dtensor: Any) -> tuple[tuple[int, int], ...]:
    """This rank's block of the global tensor: one (start, stop) per axis.
    ValueError when the shard is not one block (a strided shard whose
    stripes no later Shard of the same dim narrows to one)."""
    _check_placements(dtensor)
    sizes, indices = _local_indices(dtensor)
    region = []
    for d, size in enumerate(sizes):
        if d not in indices:
            region.append((0, size))
            continue
        index = indices[d].tolist()[:size]
        start = index[0] if index else min(int(indices[d][0]), int(dtensor.shape[d]))
        if index != list(range(start, start + size)):
            raise ValueError(f"tensor: placements {tuple(dtensor.placements)} give this rank indices "
                             f"{index[:4]}... of dim {d}, not one block; convinit fills shards that are one "
                             "block of the global tensor")
        region.append((start, start + size))
    return tuple(region)


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
