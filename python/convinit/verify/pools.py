"""One thread for the libraries the checks call (torch's intra-op pool,
OpenBLAS/MKL) while ``convinit verify`` runs.

The checks run thousands of small problems (convolutions of a few thousand
outputs, QR of at most 512 rows); a second thread on them saves nothing and
its waking and spin-waiting cost more CPU than the work itself, badly so on
a loaded machine (measured: the rng suite took 11 s of CPU instead of 0.7 s
on the 2-core Xeon). The backend's own threads are not touched (convinit's
rayon pool, ``threads=`` arguments), and thread invariance across library
thread counts is still checked: ``threads=1, 2, 3`` in process, and child
processes started with 1, 2 and 3 threads (``processes``).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator


@contextlib.contextmanager
def single_threaded_libraries() -> Iterator[None]:
    """torch (when imported) and the BLAS libraries at one thread, restored after."""
    with contextlib.ExitStack() as stack:
        torch = sys.modules.get("torch")
        if torch is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, before)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:     # convinit[verify] installs it; without it BLAS keeps its threads
            pass
        else:
            stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        yield
