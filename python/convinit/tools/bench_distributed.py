"""``convinit bench init --distributed``: initialization at scale.

1. A Llama-like model (TinyLlama-1.1B's shapes: width 2048, 22 blocks of
   grouped-query attention with 256-wide keys/values and a 5632-wide SwiGLU
   MLP, 32000-token embedding and head; 1.10B parameters) in bfloat16, built
   on the meta device and sharded with FSDP2's ``fully_shard`` on 4 local
   processes (gloo), then initialized two ways, each in 4 fresh processes:

   * ``convinit``: ``convinit.init_module(model, "torch_default", seed=0)``
     (torch's ``reset_parameters`` formulas, each parameter's stream keyed
     by its name; every rank fills its own shards, the full tensors equal
     the single-process init), the embedding ``N(0, 1)`` by ``init.normal_``;
   * ``torch``: ``model.to_empty(device="cpu")`` then every module's
     ``reset_parameters()`` under ``torch.manual_seed(0)`` (DTensor's
     random ops on the sharded parameters).

   Reported per path: the slowest rank's wall time of materialization plus
   initialization (the meta model is built and sharded before the clock
   starts), and each rank's peak resident memory above its peak before
   materialization (``ru_maxrss``; the sharded bfloat16 weights alone are
   ~0.55 GB per rank).
2. ``convinit.dask.normal`` of a >= 8 GiB float32 tensor written to a Zarr
   store (no compression) by a ``LocalCluster`` of 2 single-threaded worker
   processes with a 2 GiB memory limit each; GB/s per worker and each
   worker's sampled peak memory.

Minutes on a 2-core machine; ~6 GB of RAM and 8 GiB of disk (a temporary
directory, removed afterwards). ``tiny=True`` runs the same code on a
model of a few thousand parameters and a 4 MiB tensor (seconds; CI).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any

WORLD = 4


@dataclass(frozen=True)
class LlamaShape:
    width: int = 2048
    blocks: int = 22
    kv_width: int = 256
    mlp: int = 5632
    vocab: int = 32000


TINY = LlamaShape(width=64, blocks=2, kv_width=16, mlp=160, vocab=300)


def build_llama(shape: LlamaShape) -> Any:
    """The module tree (no forward: only the parameters matter here)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w, kv = shape.width, shape.kv_width
            self.attn_norm, self.mlp_norm = nn.RMSNorm(w), nn.RMSNorm(w)
            self.q, self.k, self.v, self.o = (nn.Linear(w, w, bias=False), nn.Linear(w, kv, bias=False),
                                              nn.Linear(w, kv, bias=False), nn.Linear(w, w, bias=False))
            self.gate, self.up = nn.Linear(w, shape.mlp, bias=False), nn.Linear(w, shape.mlp, bias=False)
            self.down = nn.Linear(shape.mlp, w, bias=False)

    class Llama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(shape.vocab, shape.width)
            self.layers = nn.ModuleList(Block() for _ in range(shape.blocks))
            self.norm = nn.RMSNorm(shape.width)
            self.head = nn.Linear(shape.width, shape.vocab, bias=False)

    return Llama()


def _sharded_on_meta(shape: LlamaShape, mesh: Any) -> Any:
    import torch
    from torch.distributed.fsdp import fully_shard

    with torch.device("meta"):
        model = build_llama(shape).to(torch.bfloat16)
    for block in model.layers:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _init_convinit(model: Any) -> None:
    from torch import nn

    from .. import init
    from ..distributed import parameter_generator
    from ..torch import init_module

    init_module(model, "torch_default", seed=0)  # materializes (to_empty), then Linear weights; norms below
    init.normal_(model.embed.weight, generator=parameter_generator(0, "embed.weight"))
    for m in model.modules():
        if isinstance(m, nn.RMSNorm):
            init.ones_(m.weight)


def _init_torch(model: Any) -> None:
    import torch

    model.to_empty(device="cpu")
    torch.manual_seed(0)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _rank_main(rank: int, world: int, port: int, path: str, shape: LlamaShape, out: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    # One thread per rank for both paths: 4 ranks already fill the 2 cores.
    os.environ["RAYON_NUM_THREADS"] = "1"  # convinit's pool, created on first use
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        model = _sharded_on_meta(shape, mesh)
        before = _peak_rss_bytes()
        dist.barrier()
        start = time.perf_counter()
        (_init_convinit if path == "convinit" else _init_torch)(model)
        seconds = time.perf_counter() - start
        local = sum(p.to_local().numel() for p in model.parameters())
        total = sum(p.numel() for p in model.parameters())
        finite = all(bool(torch.isfinite(p.to_local()).all()) for p in model.parameters())
        with open(f"{out}.{rank}", "w") as f:
            json.dump({"seconds": seconds, "peak_above_start": _peak_rss_bytes() - before, "peak": _peak_rss_bytes(),
                       "local_params": local, "params": total, "finite": finite}, f)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_model(path: str, shape: LlamaShape = LlamaShape(), world: int = WORLD) -> dict:
    """One path ("convinit" or "torch") on ``world`` fresh processes:
    {"seconds": slowest rank, "ranks": [per-rank records]}."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank")
        mp.spawn(_rank_main, args=(world, _free_port(), path, shape, out), nprocs=world, join=True)
        ranks = [json.loads(open(f"{out}.{r}").read()) for r in range(world)]
    return {"path": path, "seconds": max(r["seconds"] for r in ranks), "ranks": ranks}


def _worker_peak(dask_worker: Any) -> float:
    return max(dask_worker.monitor.quantities["memory"])


def run_dask(shape: tuple[int, int] = (65_536, 32_768), rows_per_chunk: int = 2_048, workers: int = 2,
             memory_limit: int = 2 << 30) -> dict:
    """convinit.dask.normal of ``shape`` (float32; 8 GiB by default) to Zarr."""
    import dask.array as da
    from distributed import Client, LocalCluster

    from .. import dask as cdask

    tmp = tempfile.mkdtemp(prefix="convinit-bench-zarr-")
    try:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                          dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
            lazy = cdask.normal(shape, 0.0, 0.02, chunks=(rows_per_chunk, shape[1]), seed=0)
            start = time.perf_counter()
            da.to_zarr(lazy, os.path.join(tmp, "w.zarr"), compute=True, compressors=None)
            seconds = time.perf_counter() - start
            peaks = list(client.run(_worker_peak).values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"bytes": lazy.nbytes, "seconds": seconds, "workers": workers, "memory_limit": memory_limit,
            "chunk_bytes": rows_per_chunk * shape[1] * 4, "gbps_per_worker": lazy.nbytes / seconds / workers / 1e9,
            "worker_peaks": peaks}


def run(tiny: bool = False) -> dict:
    shape = TINY if tiny else LlamaShape()
    models = [run_model(path, shape) for path in ("convinit", "torch")]
    dask_run = run_dask((256, 4096), 32, memory_limit=512 << 20) if tiny else run_dask()
    return {"models": models, "dask": dask_run, "cpu": _cpu_name(), "cores": os.cpu_count()}


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def render(report: dict, markdown: bool = False) -> str:
    gb = 1e9
    world = len(report['models'][0]['ranks'])
    lines = [f"{report['cpu']}, {report['cores']} cores; {world} processes (gloo, FSDP2), bfloat16"]
    rows = []
    for m in report["models"]:
        peaks = ", ".join(f"{r['peak_above_start'] / gb:.2f}" for r in m["ranks"])
        local = m["ranks"][0]["local_params"]
        times = ", ".join(f"{r['seconds']:.1f}" for r in m["ranks"])
        rows.append([m["path"], f"{m['ranks'][0]['params'] / 1e9:.3f}B", f"{m['seconds']:.1f} s ({times})", peaks,
                     f"{local * 2 / gb:.2f}"])
    headers = ["init", "parameters", "materialize + init: slowest rank (each rank, s)", "peak RSS growth per rank (GB)",
               "rank 0's shards (GB)"]
    d = report["dask"]
    dask_line = (f"Dask: {d['bytes'] / 2**30:.1f} GiB float32 normal to Zarr in {d['seconds']:.1f} s on "
                 f"{d['workers']} worker processes ({d['memory_limit'] / 2**30:.1f} GiB limit each, "
                 f"{d['chunk_bytes'] / 2**20:.0f} MiB chunks): {d['gbps_per_worker']:.2f} GB/s per worker; "
                 f"sampled peak per worker: {', '.join(f'{p / 2**20:.0f} MiB' for p in d['worker_peaks'])}")
    if markdown:
        table = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        table += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines + [""] + table + ["", dask_line])
    return "\n".join(lines + ["  ".join(headers)] + ["  ".join(r) for r in rows] + [dask_line])


def main(markdown: bool = False, tiny: bool = False) -> int:
    report = run(tiny=tiny)
    print(render(report, markdown))
    return 0
