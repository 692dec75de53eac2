"""Peak memory of a convolution: the im2col workspace is tiled, so a call
needs its input, weights and output plus a bounded scratch per thread
(issue 7: at most 16 MiB per thread), never a full im2col matrix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MIB = 2**20
SCRATCH_PER_THREAD = 16 * MIB

# Runs in a fresh process: peak RSS growth of one call, with its arrays
# (and the output of a warm-up call) already touched before the baseline.
CHILD = r"""
import json, resource, sys
import numpy as np
import convinit

kind, threads = sys.argv[1], int(sys.argv[2])
shape, wshape, kwargs = json.loads(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.standard_normal(shape, dtype=np.float32)
w = rng.standard_normal(wshape, dtype=np.float32)
small = convinit.conv2d(x[:1, :, :8, :8], w, threads=threads)  # pools and imports
def call():
    y = convinit.conv2d(x, w, threads=threads, **kwargs)
    if kind == "forward":
        return y, [y]
    return y, [y, *convinit.conv2d_backward(x, w, y, threads=threads, **kwargs)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
y, results = call()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth": after - before, "outputs": sum(r.nbytes for r in results if r is not None),
                  "full_im2col": x.shape[0] * w[0].size * y.shape[-1] * y.shape[-2] * 4}))
"""

LAYERS = {
    "resnet-56x56": ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),
    "stem-7x7": ((16, 3, 224, 224), (64, 3, 7, 7), {"stride": 2, "padding": 3}),
    "deep-14x14": ((32, 256, 14, 14), (256, 256, 3, 3), {"padding": 1}),
}


def measure(kind: str, threads: int, layer: str) -> dict:
    args = [sys.executable, "-c", CHILD, kind, str(threads), json.dumps(LAYERS[layer])]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_peak_memory_is_output_plus_bounded_scratch(layer, threads):
    m = measure("forward", threads, layer)
    assert m["growth"] <= m["outputs"] + SCRATCH_PER_THREAD * threads, m
    # The bound is tight enough to mean something: a full im2col matrix
    # would not fit under it.
    assert m["full_im2col"] > m["outputs"] + SCRATCH_PER_THREAD * threads


@pytest.mark.parametrize("layer", list(LAYERS))
def test_backward_peak_memory_is_gradients_plus_bounded_scratch(layer):
    m = measure("backward", 2, layer)
    # "outputs" counts the forward output (the incoming gradient) and the
    # three gradients.
    assert m["growth"] <= m["outputs"] + SCRATCH_PER_THREAD * 2, m
