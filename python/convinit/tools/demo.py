"""`convinit demo`: the source text's im2col example and a conv2d check
against PyTorch (`convinit verify` is the full check)."""

from __future__ import annotations

import time

import numpy as np

from ..conv import conv2d, unfold
from ..signal import correlate2d

# Text 000's kernel and 6x5 input.
TEXT_KERNEL = np.array([[1, 2, 3], [4, 5, 6], [-1, -2, -3]], np.float64)
TEXT_INPUT = np.array([
    [-0.21556299, -0.11002319, -0.3499612, 1.49290769, -0.50435978],
    [0.06348409, 0.66873375, 0.14251138, -1.6414004, -0.91561852],
    [-2.52451962, -1.97544675, -0.24609529, -1.11489934, -1.44793437],
    [1.26260575, -0.62047366, 0.12274525, 0.25200227, -0.83925847],
    [-1.54336488, -0.05100702, 0.36608208, 0.51712927, -0.97133877],
    [-1.54336488, -0.05100702, 0.36608208, 0.51712927, -0.97133877],
])


def _relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))


def _check(name: str, err: float, tol: float, results: list) -> None:
    ok = err <= tol
    results.append(ok)
    print(f"  {'PASS' if ok else 'FAIL'}  {name:<48} rel. max error {err:.2e} (tolerance {tol:g})")


def run_demo(seed: int = 0) -> int:
    results: list = []
    print("Text 000: correlation as im2col + matrix product (3x3 kernel on a 6x5 input)")
    cols = unfold(TEXT_INPUT[None, None], 3)[0]
    as_matmul = (cols.T @ TEXT_KERNEL.ravel()).reshape(4, 3)
    via_conv = conv2d(TEXT_INPUT[None, None], TEXT_KERNEL[None, None])[0, 0]
    print(np.array2string(via_conv, precision=4))
    try:
        import scipy.signal

        ref = scipy.signal.correlate2d(TEXT_INPUT, TEXT_KERNEL, mode="valid")
        _check("conv2d == scipy.signal.correlate2d(valid)", _relative_error(via_conv, ref), 1e-12, results)
        _check("unfold @ w.flatten() == correlate2d", _relative_error(as_matmul, ref), 1e-12, results)
        _check("convinit.correlate2d == scipy", _relative_error(correlate2d(TEXT_INPUT, TEXT_KERNEL, "valid"), ref),
               1e-12, results)
    except ImportError:
        print("  (scipy not installed: pip install 'convinit[verify]')")
    try:
        import torch
    except ImportError:
        print("torch not installed: pip install 'convinit[verify]' for the comparison with PyTorch")
        return 0 if all(results) else 1
    print("conv2d vs torch.nn.functional.conv2d (float64 reference)")
    rng = np.random.default_rng(seed)
    for n, c, h, w, o, k, s, p in [(8, 16, 28, 28, 32, 3, 1, 1), (4, 3, 56, 56, 16, 7, 2, 3)]:
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        wt = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        t0 = time.perf_counter()
        got = conv2d(x, wt, stride=s, padding=p)
        ms = (time.perf_counter() - t0) * 1e3
        ref = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(wt).double(),
                                         stride=s, padding=p).numpy()
        _check(f"({n},{c},{h},{w})->{o}, k{k} s{s} p{p} float32 [{ms:.1f} ms]", _relative_error(got, ref), 1e-5,
               results)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1
