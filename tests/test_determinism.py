"""Bit-identical results for every thread count, each in a fresh process."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

# Runs in a child process: hashes every kernel's output for one thread count.
CHILD = r"""
import hashlib, json, sys
import numpy as np
import convinit

threads = None if sys.argv[1] == "all" else int(sys.argv[1])
rng = np.random.default_rng(7)
def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
cases = {}
for dtype in (np.float32, np.float64):
    x = rng.standard_normal((5, 6, 23, 19)).astype(dtype)
    w = rng.standard_normal((8, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    cases[f"conv2d-{dtype.__name__}"] = convinit.conv2d(x, w, b, stride=(1, 2), padding="valid", groups=2, threads=threads)
    cases[f"conv2d-reflect-{dtype.__name__}"] = convinit.conv2d(x, w, b, padding=2, groups=2, padding_mode="reflect", threads=threads)
    big = rng.standard_normal((2, 64, 30, 30)).astype(dtype)
    wb = rng.standard_normal((32, 64, 3, 3)).astype(dtype)
    cases[f"conv2d-big-{dtype.__name__}"] = convinit.conv2d(big, wb, padding=1, threads=threads)
    cases[f"conv2d-pointwise-{dtype.__name__}"] = convinit.conv2d(big, wb[:, :, :1, :1], threads=threads)
    # One image: implicit GEMM cuts its output rows into more bands the more threads run.
    cases[f"conv2d-banded-{dtype.__name__}"] = convinit.conv2d(big[:1], wb, stride=2, padding=1, algorithm="implicit_gemm", threads=threads)
    deep = rng.standard_normal((1, 4, 60, 60)).astype(dtype)
    cases[f"conv2d-chunked-K-{dtype.__name__}"] = convinit.conv2d(deep, rng.standard_normal((2, 4, 50, 50)).astype(dtype), threads=threads)
    cases[f"conv1d-{dtype.__name__}"] = convinit.conv1d(x[:, :, 0], w[:, :, 0], padding="same", groups=2, threads=threads)
    cases[f"conv3d-{dtype.__name__}"] = convinit.conv3d(x[:, :, :6].reshape(5, 6, 2, 3, 19), rng.standard_normal((4, 6, 2, 3, 3)).astype(dtype), padding=1, threads=threads)
    cases[f"unfold-{dtype.__name__}"] = convinit.unfold(x, 3, padding=1, threads=threads)
    cols = convinit.unfold(x, 3, padding=1)
    cases[f"fold-{dtype.__name__}"] = convinit.fold(cols, (23, 19), 3, padding=1, threads=threads)
    dy = rng.standard_normal((2, 32, 30, 30)).astype(dtype)
    gi, gw, gb = convinit.conv2d_backward(big, wb, dy, padding=1, threads=threads)
    cases[f"grad-input-{dtype.__name__}"], cases[f"grad-weight-{dtype.__name__}"] = gi, gw
    gi, gw, _ = convinit.conv2d_backward(x, w, rng.standard_normal((5, 8, 23, 20)).astype(dtype), padding=(1, 2),
                                         groups=2, padding_mode="circular", threads=threads)
    cases[f"grad-circular-{dtype.__name__}"] = np.concatenate([gi.ravel(), gw.ravel()])
    cases[f"conv_transpose2d-{dtype.__name__}"] = convinit.conv_transpose2d(big, wb.transpose(1, 0, 2, 3).copy(), stride=2, threads=threads)
    cases[f"correlate2d-{dtype.__name__}"] = convinit.correlate2d(x[0, 0], w[0, 0], boundary="symm", threads=threads)
    # Every padding mode, dilation and groups, on 1, 2 and 3 spatial axes.
    x1 = rng.standard_normal((3, 6, 200)).astype(dtype)
    w1 = rng.standard_normal((9, 2, 5)).astype(dtype)
    x3 = rng.standard_normal((2, 4, 7, 9, 8)).astype(dtype)
    w3 = rng.standard_normal((6, 2, 2, 3, 3)).astype(dtype)
    for mode in ("zeros", "reflect", "replicate", "circular"):
        cases[f"conv1d-{mode}-{dtype.__name__}"] = convinit.conv1d(
            x1, w1, w1[:, 0, 0], stride=2, padding=4, dilation=2, groups=3, padding_mode=mode, threads=threads)
        cases[f"conv2d-{mode}-dilated-{dtype.__name__}"] = convinit.conv2d(
            x, w, b, padding=(2, 1), dilation=(2, 3), groups=2, padding_mode=mode, threads=threads)
        cases[f"conv3d-{mode}-{dtype.__name__}"] = convinit.conv3d(
            x3, w3, padding=(1, 2, 1), dilation=(1, 2, 1), groups=2, padding_mode=mode, threads=threads)
    gi, gw, gb = convinit.conv2d_backward(x, w, rng.standard_normal((5, 8, 21, 15)).astype(dtype), padding=1,
                                          dilation=2, groups=2, padding_mode="reflect", threads=threads)
    cases[f"grad-dilated-reflect-{dtype.__name__}"] = np.concatenate([gi.ravel(), gw.ravel(), gb.ravel()])
    cases[f"conv_transpose2d-groups-{dtype.__name__}"] = convinit.conv_transpose2d(
        x, w.transpose(1, 0, 2, 3).reshape(6, 4, 3, 4).copy(), b[:8], stride=(2, 3), padding=1,
        output_padding=(1, 0), groups=2, dilation=(1, 2), threads=threads)
    cols = convinit.unfold(big, (3, 2), dilation=(2, 1), padding=(1, 2), stride=(2, 1), threads=threads)
    cases[f"unfold-strided-{dtype.__name__}"] = cols
    cases[f"fold-strided-{dtype.__name__}"] = convinit.fold(cols, (30, 30), (3, 2), dilation=(2, 1),
                                                            padding=(1, 2), stride=(2, 1), threads=threads)
    cases[f"convolve2d-{dtype.__name__}"] = convinit.convolve2d(big[0, 0], wb[0, 0], "same", "wrap", threads=threads)
    # Each kernel family forced, on the shapes that pick its special tiles: grouped 3x3 with 16 and 32
    # channels per group (direct source, one- and two-vector tiles), depthwise, Winograd, strided phases.
    for per_group, size in ((16, 14), (32, 7)):
        xg = rng.standard_normal((2, 4 * per_group, size, size)).astype(dtype)
        wg = rng.standard_normal((4 * per_group, per_group, 3, 3)).astype(dtype)
        cases[f"grouped-{per_group}-{dtype.__name__}"] = convinit.conv2d(xg, wg, padding=1, groups=4, threads=threads)
        dyg = rng.standard_normal((2, 4 * per_group, (size + 1) // 2, (size + 1) // 2)).astype(dtype)
        gi, gw, _ = convinit.conv2d_backward(xg, wg, dyg, stride=2, padding=1, groups=4, threads=threads)
        cases[f"grouped-{per_group}-grads-{dtype.__name__}"] = np.concatenate([gi.ravel(), gw.ravel()])
    xd = rng.standard_normal((2, 24, 28, 28)).astype(dtype)
    for stride in (1, 2):
        cases[f"forced:depthwise-s{stride}-{dtype.__name__}"] = convinit.conv2d(
            xd, rng.standard_normal((24, 1, 3, 3)).astype(dtype), stride=stride, padding=1, groups=24,
            algorithm="depthwise", threads=threads)
    for algorithm in ("winograd", "implicit_gemm", "im2col"):
        cases[f"forced:{algorithm}-{dtype.__name__}"] = convinit.conv2d(big, wb, padding=1, algorithm=algorithm, threads=threads)

# Fills: the allocating and in-place initializers use the default pool
# (RAYON_NUM_THREADS, set by the parent); Generator methods take threads=.
from convinit import init
shape, weight = (512, 257), (128, 64, 3, 3)
for dtype in ("float32", "float64"):
    fills = {
        "uniform": init.uniform(shape, -1, 2, seed=5, dtype=dtype),
        "normal": init.normal(shape, 0.5, 2.0, seed=5, dtype=dtype),
        "trunc_normal": init.trunc_normal(shape, 0.0, 1.0, -1.0, 1.5, seed=5, dtype=dtype),
        "uniform-shard": init.uniform(shape, seed=5, dtype=dtype, flat_range=(1000, 90001)),
        "xavier_uniform": init.xavier_uniform(weight, gain=2.0, seed=6, dtype=dtype),
        "xavier_normal": init.xavier_normal(weight, seed=6, dtype=dtype),
        "kaiming_uniform": init.kaiming_uniform(weight, a=0.1, seed=6, dtype=dtype),
        "kaiming_normal": init.kaiming_normal(weight, mode="fan_out", nonlinearity="relu", seed=6, dtype=dtype),
        "orthogonal": init.orthogonal((64, 300), gain=1.5, seed=7, dtype=dtype),
        "sparse": init.sparse((300, 200), 0.4, seed=8, dtype=dtype),
        "normal_": init.normal_(np.empty(shape, dtype), 1.0, 3.0, seed=9),
        "trunc_normal_": init.trunc_normal_(np.empty(shape, dtype), seed=9),
        "kaiming_uniform_": init.kaiming_uniform_(np.empty(weight, dtype), seed=9),
        "xavier_normal_": init.xavier_normal_(np.empty(weight, dtype), seed=9),
        "orthogonal_": init.orthogonal_(np.empty((40, 10, 3), dtype), seed=9),
        "sparse_": init.sparse_(np.empty((100, 50), dtype), 0.2, seed=9),
    }
    gen = convinit.Generator(11)
    fills["Generator.uniform"] = gen.uniform(-3, 3, size=shape, dtype=dtype, threads=threads)
    fills["Generator.normal"] = gen.normal(1, 2, size=shape, dtype=dtype, threads=threads)
    fills["Generator.trunc_normal"] = gen.trunc_normal(0, 1, -0.5, 3, size=shape, dtype=dtype, threads=threads)
    fills["Generator.uniform-shard"] = gen.uniform(size=shape, dtype=dtype, flat_range=(77, 100077), threads=threads)
    fills["Generator.kaiming_normal"] = init.kaiming_normal(weight, generator=gen, dtype=dtype)
    for name, values in fills.items():
        cases[f"fill:{name}-{dtype}"] = values
cases["fill:Generator.random_raw"] = convinit.Generator(12).random_raw(300_001, threads=threads)
cases = {k: digest(v) for k, v in cases.items()}
cases["tiles"] = convinit._core.conv_tiles()
print(json.dumps(cases))
"""


@functools.lru_cache(maxsize=None)
def digests(threads: str, isa: str = "") -> dict:
    """Digests of every case in a fresh process with ``threads`` workers
    ("all": the default pool, one worker per core), and the instruction set
    ``isa`` forced ("": the widest the CPU has)."""
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    env.pop("CONVINIT_ISA", None)
    if threads != "all":
        env["RAYON_NUM_THREADS"] = threads
    if isa:
        env["CONVINIT_ISA"] = isa
    out = subprocess.run([sys.executable, "-c", CHILD, threads], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("threads", ["2", "3", "8", "all"])
def test_every_thread_count_gives_identical_bits(threads):
    single, other = digests("1"), digests(threads)
    assert len(single) > 100  # every kernel and fill, both dtypes
    differ = sorted(k for k in single if other.get(k) != single[k])
    assert not differ, f"bits differ with {threads} threads: {differ}"


def _instruction_sets() -> list[str]:
    """Every instruction set the tiles can be forced to here, widest first."""
    widest = digests("1")["tiles"]
    order = ["avx512", "avx2", "portable"]
    return order[order.index(widest):]


@pytest.mark.parametrize("isa", ["avx2", "scalar"])
def test_every_instruction_set_gives_identical_bits(isa):
    """Kernels forced onto narrower tiles, as CONVINIT_ISA allows, on two
    threads: the same bits as the widest tiles. AVX2 runs every case; the
    portable chain runs the fills and the kernels chosen by ``algorithm=``
    (without vector tiles, ``auto`` and the backward pass pick simpler
    algorithms, whose sums are grouped differently)."""
    widest, forced = digests("1"), digests("2", isa)
    expected = "portable" if isa == "scalar" else isa
    if expected not in _instruction_sets():
        pytest.skip(f"this CPU cannot run the {isa} tiles")
    assert forced["tiles"] == expected
    compared = [k for k in widest if k != "tiles" and (isa == "avx2" or k.startswith(("forced:", "fill:")))]
    assert len(compared) > 40
    differ = sorted(k for k in compared if forced.get(k) != widest[k])
    assert not differ, f"bits differ on {isa}: {differ}"
