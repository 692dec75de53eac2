"""Settings shared by the asv benchmarks: every backend runs on the same
number of threads, all of this machine's cores."""

import os

THREADS = os.cpu_count() or 1


def pin_threads() -> None:
    import torch

    torch.set_num_threads(THREADS)
