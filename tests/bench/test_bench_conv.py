"""pytest-benchmark timings, grouped per layer shape; off in the normal run.

    python -m pytest tests/bench -o addopts="" --benchmark-only [--benchmark-json out.json]
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import convinit
from convinit.tools.layers import README_SUITE

torch.set_num_threads(2)


@pytest.fixture(params=list(README_SUITE), ids=list(README_SUITE))
def layer(request):
    spec = README_SUITE[request.param]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec.input_shape).astype(np.float32)
    wt = (rng.standard_normal(spec.weight_shape) / math.sqrt(math.prod(spec.weight_shape[1:]))).astype(np.float32)
    return request.param, x, wt, spec.stride, spec.padding


def test_convinit_conv2d(benchmark, layer):
    name, x, w, s, p = layer
    benchmark.group = name
    out = benchmark(convinit.conv2d, x, w, stride=s, padding=p, threads=2)
    assert out.shape[1] == w.shape[0]


def test_torch_conv2d(benchmark, layer):
    name, x, w, s, p = layer
    benchmark.group = name
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    with torch.no_grad():
        out = benchmark(torch.nn.functional.conv2d, tx, tw, stride=s, padding=p)
    assert out.shape[1] == w.shape[0]


@pytest.mark.parametrize("fill", ["uniform_", "normal_", "trunc_normal_"])
def test_fills(benchmark, fill):
    benchmark.group = f"fill 16M float32: {fill}"
    buffer = np.empty(16 * 2**20, np.float32)
    gen = convinit.Generator(0)
    out = benchmark(getattr(convinit.init, fill), buffer, generator=gen)
    assert out is buffer
