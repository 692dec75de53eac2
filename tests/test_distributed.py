"""convinit.distributed: DTensor shards filled as regions of the global
tensor, init_module under FSDP2 and tensor parallelism (gloo on localhost),
and streams keyed by parameter name."""

import hashlib
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from convinit import Generator, init
from convinit.distributed import parameter_stream
from convinit.torch import init_module


class Block(nn.Module):
    """A transformer-like block: attention projections and an MLP (Linear only)."""

    def __init__(self, width=12, hidden=20):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(width, width, bias=False) for _ in range(4))
        self.up, self.down = nn.Linear(width, hidden), nn.Linear(hidden, width)


class Transformer(nn.Module):
    def __init__(self, layers=2):
        super().__init__()
        self.layers = nn.ModuleList(Block() for _ in range(layers))
        self.head = nn.Linear(12, 7)


def cnn():
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 3), nn.Flatten(),
                         nn.Linear(5 * 4 * 4, 9))


def reference(model_fn, scheme):
    model = model_fn()
    init_module(model, scheme, seed=7)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def full_values(model):
    from torch.distributed.tensor import DTensor

    return {name: (p.full_tensor() if isinstance(p, DTensor) else p).detach() for name, p in model.named_parameters()}


def assert_same(got, expected, what):
    assert got.keys() == expected.keys(), what
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{what}: {name}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fsdp(model_fn, mesh):
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta"):
        model = model_fn()
    for m in model.modules():
        if isinstance(m, (Block, nn.Conv2d)):
            fully_shard(m, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _tp(mesh):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    model = Transformer()
    plan = {}
    for i in range(2):
        plan.update({f"layers.{i}.{n}": ColwiseParallel() for n in ("q", "k", "v", "up")})
        plan.update({f"layers.{i}.{n}": RowwiseParallel() for n in ("o", "down")})
    return parallelize_module(model, mesh, plan)


def _check_dtensor_fills(mesh):
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    shape = (5, 7, 300)  # 5 rows over 2 ranks: uneven shards
    for placement in (Shard(0), Shard(1), Shard(2), Replicate()):
        for dtype in (torch.float32, torch.bfloat16):
            dt = distribute_tensor(torch.zeros(shape, dtype=dtype), mesh, [placement])
            init.kaiming_normal_(dt, mode="fan_out", seed=3)
            expected = torch.zeros(shape, dtype=dtype)
            init.kaiming_normal_(expected, mode="fan_out", seed=3)
            assert torch.equal(dt.full_tensor(), expected), (placement, dtype)


def _check_refusals(mesh):
    """Unsupported placements and explicit regions fail at once, on every rank alone (no collective)."""
    from torch.distributed.tensor import DTensor, Partial

    partial = DTensor.from_local(torch.zeros(4, 4), mesh, [Partial()], run_check=False)
    with pytest.raises(ValueError, match="tensor: placement"):
        init.normal_(partial, seed=0)
    with pytest.raises(ValueError, match="shape, region"):
        init.normal_(partial, seed=0, region=((0, 4), (0, 4)), shape=(4, 4))


def _worker(rank, world, port):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        _check_dtensor_fills(mesh)
        _check_refusals(mesh)
        for scheme in ("kaiming_normal", "torch_default"):
            for model_fn in (Transformer, cnn):
                model = init_module(_fsdp(model_fn, mesh), scheme, seed=7)
                assert_same(full_values(model), reference(model_fn, scheme), f"FSDP2 {model_fn.__name__} {scheme}")
        model = init_module(_tp(mesh), "xavier_uniform", seed=7)
        assert_same(full_values(model), reference(Transformer, "xavier_uniform"), "TP")
    finally:
        dist.destroy_process_group()


def test_two_processes_give_the_single_process_weights_under_fsdp2_and_tp():
    # Also: DTensor fills for every placement, uneven shards, bfloat16; refusals.
    mp.spawn(_worker, args=(2, free_port()), nprocs=2, join=True)


def _mesh_2x2_worker(rank, world, port):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        shape = (6, 5, 260)
        for placements in ([Shard(0), Shard(1)], [Shard(2), Shard(0)], [Replicate(), Shard(1)]):
            dt = distribute_tensor(torch.zeros(shape), mesh, placements)
            init.trunc_normal_(dt, std=0.02, seed=11)
            expected = init.trunc_normal(shape, std=0.02, seed=11)
            assert np.array_equal(dt.full_tensor().numpy(), expected), placements
        model = init_module(_fsdp(cnn, mesh["dp"]), "kaiming_uniform", seed=7)
        assert_same(full_values(model), reference(cnn, "kaiming_uniform"), "FSDP2 on a 2x2 mesh's dp dim")
        model = init_module(_fsdp_tp(mesh), "xavier_uniform", seed=7)
        strided = [n for n, p in model.named_parameters() if "_StridedShard" in str(p.placements)]
        assert strided, "FSDP2 over ColwiseParallel should give strided shards"
        assert_same(full_values(model), reference(Transformer, "xavier_uniform"), "FSDP2 x TP on a 2x2 mesh")
        model = init_module(_fsdp_tp_uneven(mesh), "kaiming_normal", seed=7)
        assert_same(full_values(model), reference(uneven_mlp, "kaiming_normal"), "FSDP2 x TP, uneven shards")
        _check_striped_shard_is_refused(mesh)
    finally:
        dist.destroy_process_group()


def _fsdp_tp(mesh):
    """TP (Colwise/Rowwise) on the mesh's tp dim, then FSDP2 on its dp dim, all on the meta device:
    Colwise weights end up _StridedShard(0) on dp and Shard(0) on tp, one block per rank."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    with torch.device("meta"):
        model = Transformer()
    plan = {}
    for i in range(2):
        plan.update({f"layers.{i}.{n}": ColwiseParallel() for n in ("q", "k", "v", "up")})
        plan.update({f"layers.{i}.{n}": RowwiseParallel() for n in ("o", "down")})
    parallelize_module(model, mesh["tp"], plan)
    for block in model.layers:
        fully_shard(block, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    return model


def uneven_mlp():
    return nn.Sequential(nn.Linear(12, 7), nn.Linear(7, 5), nn.Linear(5, 3))


def _fsdp_tp_uneven(mesh):
    """Rows that split unevenly under TP and again under FSDP2 (7 -> 4+3 -> 2+2, 2+1; 3 -> 2+1 -> 1+1, 1+0)."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    with torch.device("meta"):
        model = uneven_mlp()
    parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "1": RowwiseParallel(), "2": ColwiseParallel()})
    fully_shard(model, mesh=mesh["dp"])
    return model


def _check_striped_shard_is_refused(mesh):
    """A strided shard without the TP shard that narrows it holds stripes of rows: refused, no collective."""
    from torch.distributed.tensor import DTensor, Replicate
    from torch.distributed.tensor.placement_types import _StridedShard

    striped = DTensor.from_local(torch.zeros(4, 3), mesh, [_StridedShard(0, split_factor=2), Replicate()],
                                 run_check=False, shape=torch.Size((8, 3)), stride=(3, 1))
    with pytest.raises(ValueError, match="not one block"):
        init.normal_(striped, seed=0)


def test_four_processes_on_a_2x2_mesh():
    mp.spawn(_mesh_2x2_worker, args=(4, free_port()), nprocs=4, join=True)


# ---- single process -------------------------------------------------------------


def test_parameter_streams_are_the_documented_hash():
    digest = hashlib.sha256((2**40 + 5).to_bytes(8, "little") + "layers.0.q.weight".encode()).digest()
    assert parameter_stream(2**40 + 5, "layers.0.q.weight") == int.from_bytes(digest[:8], "little")
    assert parameter_stream(1, "a.weight") != parameter_stream(2, "a.weight") != parameter_stream(1, "b.weight")


def test_adding_a_layer_leaves_the_other_layers_unchanged():
    small = init_module(nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3)), "kaiming_normal", seed=1)
    grown = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3), nn.Linear(3, 2))
    init_module(grown, "kaiming_normal", seed=1)
    assert torch.equal(small[0].weight, grown[0].weight) and torch.equal(small[1].weight, grown[1].weight)
    # A parameter's values are the seeded fill of its own stream.
    expected = init.kaiming_normal((3, 5), generator=Generator(1, parameter_stream(1, "1.weight")))
    assert np.array_equal(grown[1].weight.detach().numpy(), expected)


def test_meta_device_modules_are_materialized_on_cpu():
    with torch.device("meta"):
        model = cnn()
    init_module(model, "kaiming_normal", seed=7)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert_same(dict(model.named_parameters()), reference(cnn, "kaiming_normal"), "meta")
    assert torch.equal(model[1].running_var, torch.ones(6)) and torch.equal(model[1].running_mean, torch.zeros(6))


def test_a_meta_tensor_is_refused_by_in_place_fills():
    with pytest.raises(TypeError, match="tensor"):
        init.normal_(torch.empty(3, 4, device="meta"), seed=0)
