"""Bit-identical results for every thread count, across processes: a child
loads the backend from its spec with the thread-count variables set (rayon,
OpenMP, MKL, OpenBLAS read them when their pools start) and prints digests
of fixed fills and a conv2d, which the parent compares with its own.

Run as ``python -m convinit.verify.processes SPEC SEED``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np

from .backends import DEFAULT_PARAMS, RANDOM_FILLS, Backend, load_backend
from .suites.common import as_array
from .suites.conv import THREAD_CASE

THREAD_VARIABLES = ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
FILL_SHAPE = (512, 257)     # large enough to be split across workers
FUNCTIONS = RANDOM_FILLS + ("conv2d",)


def _digest(value: object) -> str:
    array = np.ascontiguousarray(as_array(value))
    return hashlib.sha256(array.dtype.str.encode() + str(array.shape).encode() + array.tobytes()).hexdigest()


def digests(backend: Backend, seed: int) -> dict[str, str]:
    out = {}
    for fill in RANDOM_FILLS:
        if backend.has(fill):
            out[fill] = _digest(backend.get(fill)(FILL_SHAPE, **DEFAULT_PARAMS.get(fill, {}), seed=seed))
    if backend.has("conv2d"):
        x, w, b = THREAD_CASE.arrays(seed, np.float32)
        out["conv2d"] = _digest(backend.get("conv2d")(x, w, b, padding=1))
    return out


# How idle worker threads wait, not how many there are or what they compute:
# sleeping soon instead of spinning (OpenBLAS's spinning workers cost a
# child with 2 or 3 threads ~3 s of CPU on a loaded 2-core machine, 0.4 s without).
QUIET_WAITING = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}


def child_digests(spec: str, seed: int, threads: int) -> dict[str, str]:
    env = {**QUIET_WAITING, **os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-m", __name__, spec, str(seed)], capture_output=True, text=True,
                          env=env, timeout=600)
    if done.returncode:
        raise RuntimeError(f"child process with {threads} threads failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(digests(load_backend(sys.argv[1]), int(sys.argv[2]))))
