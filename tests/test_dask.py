"""convinit.dask: every chunking gives the in-memory fill's values, and a
real multi-process cluster writes a tensor larger than any worker's memory."""

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

import convinit.dask as cdask
from convinit import Generator, init

FILLS = {
    "uniform": ((-1.0, 3.0), {}),
    "normal": ((0.5, 2.0), {}),
    "trunc_normal": ((0.0, 1.0, -0.5, 1.5), {}),
    "xavier_uniform": ((), {"gain": 2.0}),
    "xavier_normal": ((), {}),
    "kaiming_uniform": ((), {"mode": "fan_out", "nonlinearity": "relu"}),
    "kaiming_normal": ((), {"a": 0.2}),
    "constant": ((0.75,), {}),
    "ones": ((), {}),
    "zeros": ((), {}),
}
RANDOM = {"uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"}


def random_chunks(rng, shape):
    """Random block sizes per axis, summing to the axis length."""
    chunks = []
    for dim in shape:
        cuts = np.sort(rng.choice(np.arange(1, dim), size=min(dim - 1, int(rng.integers(0, 5))), replace=False))
        chunks.append(tuple(int(c) for c in np.diff(np.concatenate([[0], cuts, [dim]]))))
    return tuple(chunks)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name", list(FILLS))
def test_every_chunking_gives_the_in_memory_fill(name, dtype):
    args, kwargs = FILLS[name]
    rng = np.random.default_rng(sum(map(ord, name + dtype)))
    seed = {"seed": 21} if name in RANDOM else {}
    with dask.config.set(scheduler="threads"):
        for _ in range(4):
            shape = tuple(int(d) for d in rng.integers(2, 60, size=rng.integers(2, 4)))
            expected = getattr(init, name)(shape, *args, **kwargs, **seed, dtype=dtype)
            chunks = random_chunks(rng, shape)
            lazy = getattr(cdask, name)(shape, *args, **kwargs, **seed, dtype=dtype, chunks=chunks)
            assert lazy.chunks == chunks and lazy.dtype == expected.dtype
            got = lazy.compute()
            assert np.array_equal(got.view(np.uint8), expected.view(np.uint8)), (shape, chunks)
            rechunked = lazy.rechunk(tuple(max(1, d // 3) for d in shape)).compute()
            assert np.array_equal(rechunked.view(np.uint8), expected.view(np.uint8))


def test_a_generator_gives_one_stream_per_array_as_init_does():
    lazy = [cdask.normal((40, 30), chunks=(7, 11), generator=Generator(9)) for _ in range(1)]
    generator, reference = Generator(9), Generator(9)
    first, second = cdask.normal((40, 30), chunks=7, generator=generator), cdask.normal((40, 30), generator=generator)
    assert np.array_equal(first.compute(), init.normal((40, 30), generator=reference))
    assert np.array_equal(second.compute(), init.normal((40, 30), generator=reference))
    assert np.array_equal(lazy[0].compute(), first.compute())
    assert not np.array_equal(first.compute(), second.compute())


@pytest.mark.parametrize("call, error, match", [
    (lambda: cdask.normal((3, 4), seed=0, dtype="int8"), TypeError, "dtype"),
    (lambda: cdask.normal((3, -4), seed=0), ValueError, "shape"),
    (lambda: cdask.normal((3, 4), std=-1.0, seed=0), ValueError, "std"),
    (lambda: cdask.kaiming_normal((3, 4), mode="fan", seed=0), ValueError, "mode"),
    (lambda: cdask.normal((3, 4), seed=0, generator=Generator(0)), ValueError, "seed, generator"),
    (lambda: cdask.zeros((3, 4), seed=0), TypeError, "seed"),
    (lambda: cdask.xavier_normal((3,), seed=0), ValueError, "shape"),
])
def test_bad_arguments_fail_before_a_graph_is_built(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _peak_rss_bytes(dask_worker):
    """The largest resident size the worker's system monitor sampled (every
    0.5 s); ru_maxrss would include pages shared with the process it forked from."""
    return max(dask_worker.monitor.quantities["memory"])


def test_a_local_cluster_writes_a_tensor_larger_than_any_worker_to_zarr(tmp_path):
    limit = 256 * 2**20
    shape, chunks = (10_240, 8_192), (256, 8_192)  # 320 MiB of float32, 8 MiB blocks
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=limit,
                      dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
        lazy = cdask.normal(shape, 0.0, 0.02, chunks=chunks, seed=123)
        assert lazy.nbytes > limit
        da.to_zarr(lazy, str(tmp_path / "w.zarr"), compute=True, compressors=None)
        peaks = client.run(_peak_rss_bytes)
    print(f"\nper-worker peak RSS (sampled): {[f'{p / 2**20:.0f} MiB' for p in peaks.values()]} "
          f"(limit {limit / 2**20:.0f} MiB, tensor {lazy.nbytes / 2**20:.0f} MiB)")
    assert len(peaks) == 2 and all(p < limit for p in peaks.values())
    stored = zarr.open_array(str(tmp_path / "w.zarr"), mode="r")
    rng = np.random.default_rng(0)
    for _ in range(4):
        r0, c0 = int(rng.integers(0, shape[0] - 300)), int(rng.integers(0, shape[1] - 300))
        region = (slice(r0, r0 + 300), slice(c0, c0 + 300))
        assert np.array_equal(stored[region], init.normal(shape, 0.0, 0.02, seed=123, region=region))
    row = int(rng.integers(0, shape[0]))
    flat = init.normal(shape, 0.0, 0.02, seed=123, flat_range=(row * shape[1], (row + 1) * shape[1]))
    assert np.array_equal(stored[row], flat)
