"""Bit-identical results for every thread count, each in a fresh process."""

from __future__ import annotations

import json
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
print(json.dumps({k: digest(v) for k, v in cases.items()}))
"""


def digests(threads: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, threads], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("threads", ["2", "3", "8", "all"])
def test_every_thread_count_gives_identical_bits(threads):
    single = digests("1")
    assert digests(threads) == single
