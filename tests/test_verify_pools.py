"""`convinit verify` runs its checks with torch and BLAS at one thread and
puts the libraries back as they were."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info

from convinit.verify.pools import single_threaded_libraries


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_thread_inside_and_restored_after():
    torch.set_num_threads(2)
    before = blas_threads()
    assert before, "NumPy's BLAS is not visible to threadpoolctl"
    with single_threaded_libraries():
        assert torch.get_num_threads() == 1
        assert set(blas_threads()) == {1}
    assert torch.get_num_threads() == 2
    assert blas_threads() == before
