"""A process's OS threads stay bounded whatever `threads=` callers pass.

Each kernel call runs on the calling thread plus at most `threads - 1`
workers of one pool that is created once, so sweeping `threads` or calling
from many short-lived Python threads must not add OS threads. Checked in
a fresh interpreter (torch, imported by other tests, starts threads of
its own) by reading the thread count the kernel reports in /proc.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from convinit import _core

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")

SWEEP = textwrap.dedent(
    """
    import os, threading
    import numpy as np
    import convinit

    def os_threads():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))

    x = np.ones((2, 4, 12, 12), np.float32)
    w = np.ones((8, 4, 3, 3), np.float32)
    reference = convinit.conv2d(x, w, padding=1, threads=1)
    counts = {"start": os_threads()}
    for k in list(range(1, 65)) + [1000, 999, 998]:
        assert convinit.conv2d(x, w, padding=1, threads=k).tobytes() == reference.tobytes(), k
    counts["after_sweep"] = os_threads()

    def call(i):
        out = convinit.conv2d(x, w, padding=1, threads=1 + i % 3)
        assert out.tobytes() == reference.tobytes()
    for batch in range(10):
        workers = [threading.Thread(target=call, args=(i,)) for i in range(10)]
        for t in workers: t.start()
        for t in workers: t.join()
    counts["after_python_threads"] = os_threads()
    print(counts)
    """
)


def test_thread_count_stays_bounded():
    result = subprocess.run([sys.executable, "-c", SWEEP], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    counts = eval(result.stdout.strip().splitlines()[-1])  # a dict literal printed by the child
    cores = os.cpu_count() or 1
    # The pool (one worker per core) may start during the run; nothing else may.
    limit = counts["start"] + cores + 2
    assert counts["after_sweep"] <= limit, counts
    assert counts["after_python_threads"] <= limit, counts


def test_fills_refuse_fortran_ordered_targets():
    # Element i of a fill is the i-th in C order; a Fortran-ordered buffer
    # would get the transposed tensor.
    target = np.zeros((4, 6), np.float32, order="F")
    with pytest.raises(TypeError, match="tensor: expected a C-contiguous array"):
        _core.fill_into(target, "normal", [0.0, 1.0], 0, 0, 0, 1)
    with pytest.raises(TypeError, match="p: expected .*C-contiguous"):
        _core.ndtri(np.full((4, 6), 0.5, order="F"))
