"""Every convolution algorithm against torch, and batch invariance.

`algorithm=` forces a kernel; each must agree with torch in float64 within
the harness's tolerance wherever it applies, refuse shapes it cannot
compute with a ValueError naming `algorithm`, and give each image the same
bits whatever batch it is computed in (forward and grad_input).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convinit
from convinit.conv import ALGORITHMS

FORCED = [a for a in ALGORITHMS if a != "auto"]

# (input shape, weight shape, stride, padding, dilation, groups, padding_mode)
LAYERS = [
    ((3, 16, 14, 14), (24, 16, 3, 3), 1, 1, 1, 1, "zeros"),
    ((2, 64, 9, 11), (32, 64, 3, 3), 1, (1, 2), 1, 1, "reflect"),
    ((2, 8, 7, 8), (8, 8, 3, 3), 1, "same", 1, 1, "circular"),
    ((1, 600, 6, 5), (10, 600, 3, 3), 1, 0, 1, 1, "replicate"),
    ((4, 6, 12, 10), (6, 3, 3, 3), 2, 1, 1, 2, "zeros"),
    ((2, 5, 16, 16), (7, 5, 5, 5), 1, 2, 2, 1, "zeros"),
    ((3, 4, 20, 20), (4, 1, 3, 3), 1, 1, 1, 4, "zeros"),
    # Strides and dilation through implicit GEMM's phase-split slab.
    ((2, 6, 40, 37), (20, 6, 3, 3), 2, 1, 1, 1, "reflect"),
    ((1, 3, 60, 58), (9, 3, 7, 7), 2, 3, 1, 1, "zeros"),
    ((2, 8, 33, 35), (12, 4, 3, 3), (2, 3), (2, 1), 2, 2, "circular"),
    ((2, 16, 30, 30), (24, 16, 1, 1), 2, 0, 1, 1, "zeros"),
    # Grouped 3x3 stride 1 with 16 channels per group: Winograd when forced.
    ((2, 32, 9, 10), (48, 16, 3, 3), 1, 1, 1, 2, "replicate"),
    # A stem (few input channels, more outputs than a tile's channel
    # block): implicit GEMM's direct source; grouped, with dilation.
    ((2, 3, 38, 35), (20, 3, 7, 7), 2, 3, 1, 1, "zeros"),
    ((2, 4, 15, 17), (36, 2, 3, 3), (1, 2), 2, 2, 2, "zeros"),
]


def supports(algorithm: str, layer) -> bool:
    xs, ws, s, p, d, g, mode = layer
    try:
        convinit.conv_algorithm(np.empty(xs), np.empty(ws), s, p, d, g, mode, algorithm=algorithm)
    except ValueError as err:
        assert "algorithm" in str(err)
        return False
    return True


def reference(x, w, s, p, d, g, mode):
    xt, wt = torch.from_numpy(x).double(), torch.from_numpy(w).double()
    if mode != "zeros":
        conv = torch.nn.Conv2d(x.shape[1], w.shape[0], w.shape[2:], s, p, d, g, bias=False, padding_mode=mode).double()
        conv.weight.data = wt
        return conv(xt).detach().numpy()
    return torch.nn.functional.conv2d(xt, wt, stride=s, padding=p, dilation=d, groups=g).numpy()


def data(layer, dtype, seed=0):
    xs, ws = layer[:2]
    rng = np.random.default_rng(seed)
    return rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)


def applicable(algorithms, layers):
    """(layer, algorithm) pairs where the algorithm computes the layer."""
    return [pytest.param(layer, a, id=f"{a}-{layer[0]}*{layer[1]}")
            for layer in layers for a in algorithms if supports(a, layer)]


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("layer,algorithm", applicable(FORCED, LAYERS))
def test_each_algorithm_matches_torch(layer, algorithm, dtype, tol):
    x, w = data(layer, dtype)
    got = convinit.conv2d(x, w, None, *layer[2:], algorithm=algorithm)
    want = reference(x, w, *layer[2:])
    assert got.dtype == dtype and got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() <= tol


def test_each_algorithm_applies_exactly_where_documented():
    assert [supports("winograd", layer) for layer in LAYERS] == [True] * 4 + [False, False, True] + [False] * 4 + [True] + [False] * 2
    assert all(supports(a, layer) for a in ("auto", "im2col", "implicit_gemm") for layer in LAYERS)


def test_unknown_and_unsupported_algorithms_are_value_errors():
    x, w = np.ones((1, 2, 8, 8), np.float32), np.ones((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="algorithm: expected one of 'auto', 'im2col', 'implicit_gemm', 'winograd', 'depthwise'"):
        convinit.conv2d(x, w, algorithm="fft")
    with pytest.raises(ValueError, match="algorithm: 'winograd' needs"):
        convinit.conv2d(x, w, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm"):
        convinit.conv1d(x[:, :, 0], w[:, :, 0], algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm: 'depthwise' needs"):
        convinit.conv3d(np.ones((1, 2, 4, 8, 8)), np.ones((2, 2, 3, 3, 3)), algorithm="depthwise")


def test_auto_picks_winograd_implicit_gemm_or_im2col_by_shape():
    pick = convinit.conv_algorithm
    wide = convinit.conv_algorithm(np.empty((1, 64, 56, 56)), np.empty((64, 64, 3, 3)), padding=1,
                                   algorithm="implicit_gemm")
    assert wide == "implicit_gemm"
    if pick(np.empty((1, 64, 56, 56)), np.empty((64, 64, 3, 3)), padding=1) == "im2col":
        pytest.skip("no AVX-512 here: auto keeps im2col + gemm")
    # Winograd: 3x3 stride 1, at least 64 channels in and out, outputs of
    # at least 28x28 (any batch: the rule sees the per-image shape only).
    for batch in (1, 16):
        assert pick(np.empty((batch, 64, 56, 56)), np.empty((64, 64, 3, 3)), padding=1) == "winograd"
        assert pick(np.empty((batch, 128, 28, 28)), np.empty((128, 128, 3, 3)), padding=1) == "winograd"
    assert pick(np.empty((1, 128, 28, 28)), np.empty((128, 128, 3, 3)), padding=1, padding_mode="reflect") == "winograd"
    assert pick(np.empty((1, 32, 56, 56)), np.empty((64, 32, 3, 3)), padding=1) == "implicit_gemm"
    assert pick(np.empty((1, 64, 56, 56)), np.empty((32, 64, 3, 3)), padding=1) == "implicit_gemm"
    assert pick(np.empty((1, 64, 56, 56)), np.empty((64, 64, 3, 3)), padding=1, dilation=2) == "implicit_gemm"
    # Implicit GEMM: lanes computed per output (padding columns, vector
    # tails) at most 1.1 + 16 / (output channels per group).
    assert pick(np.empty((1, 64, 56, 56)), np.empty((128, 64, 3, 3)), stride=2, padding=1) == "implicit_gemm"
    assert pick(np.empty((1, 3, 224, 224)), np.empty((64, 3, 7, 7)), stride=2, padding=3) == "implicit_gemm"
    assert pick(np.empty((1, 64, 56, 56)), np.empty((128, 64, 1, 1))) == "implicit_gemm"
    # 3-D: the same sizes and channels per output slice (r3d's 3x3x3 layers).
    assert pick(np.empty((1, 64, 16, 56, 56)), np.empty((64, 64, 3, 3, 3)), padding=1) == "winograd"
    assert pick(np.empty((1, 256, 4, 14, 14)), np.empty((256, 256, 3, 3, 3)), padding=1) == "winograd"
    assert pick(np.empty((1, 512, 2, 7, 7)), np.empty((512, 512, 3, 3, 3)), padding=1) == "im2col"
    assert pick(np.empty((1, 64, 16, 56, 56)), np.empty((128, 64, 3, 3, 3)), stride=2, padding=1) == "implicit_gemm"
    # r3d's stem: F(2, 3) along the depth from 3 output slices on (one
    # pair's 4 products against two slices' 6 direct chains).
    stem = np.empty((64, 3, 3, 7, 7))
    assert pick(np.empty((1, 3, 16, 112, 112)), stem, stride=(1, 2, 2), padding=(1, 3, 3)) == "winograd"
    assert pick(np.empty((1, 3, 2, 112, 112)), stem, stride=(1, 2, 2), padding=(1, 3, 3)) == "implicit_gemm"
    assert pick(np.empty((1, 256, 14, 14)), np.empty((256, 256, 3, 3)), padding=1) == "winograd"
    assert pick(np.empty((1, 128, 14, 14)), np.empty((128, 128, 3, 3)), padding=1) == "implicit_gemm"
    assert pick(np.empty((8, 1024, 7, 7)), np.empty((1024, 32, 3, 3)), padding=1, groups=32) == "implicit_gemm"
    assert pick(np.empty((1, 512, 7, 7)), np.empty((512, 512, 3, 3)), padding=1) == "im2col"
    assert pick(np.empty((1, 64, 56, 56)), np.empty((128, 64, 1, 1)), stride=2) == "im2col"
    # One output row at a stride and a long reduction (wav2vec 2.0's
    # encoder): im2col; its single-channel first layer (10 steps) stays.
    assert pick(np.empty((1, 512, 1599)), np.empty((512, 512, 3)), stride=2) == "im2col"
    assert pick(np.empty((1, 512, 1599)), np.empty((512, 512, 3))) == "implicit_gemm"
    assert pick(np.empty((1, 1, 16000)), np.empty((512, 1, 10)), stride=5) == "implicit_gemm"
    # At most 4 input channels per group (16 outputs, 16 reduction steps):
    # the direct source, whatever the rows.
    assert pick(np.empty((1, 3, 7, 7)), np.empty((512, 3, 3, 3)), padding=1) == "implicit_gemm"


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


BATCH_LAYERS = LAYERS + [
    # The layer whose images all differed in their last bits when the
    # reduction (k = 576) was cut by a tile width that grew with the batch.
    ((6, 64, 28, 28), (64, 64, 3, 3), 1, 1, 1, 1, "zeros"),
    ((5, 1, 28, 28), (32, 1, 3, 3), 1, 1, 1, 1, "zeros"),
    ((7, 128, 7, 7), (16, 128, 1, 1), 1, 0, 1, 1, "zeros"),
    ((3, 32, 30, 33), (16, 32, 3, 3), 1, 1, 1, 1, "reflect"),
    ((2, 24, 5, 60), (16, 24, 3, 3), 1, 1, 1, 1, "zeros"),
]


@pytest.mark.parametrize("layer,algorithm", applicable(ALGORITHMS, BATCH_LAYERS))
def test_each_image_is_independent_of_its_batch(layer, algorithm):
    x, w = data(layer, np.float32, seed=3)
    full = convinit.conv2d(x, w, None, *layer[2:], algorithm=algorithm)
    rng = np.random.default_rng(len(x))
    for _ in range(3):
        start = int(rng.integers(0, len(x)))
        stop = int(rng.integers(start + 1, len(x) + 1))
        part = convinit.conv2d(x[start:stop], w, None, *layer[2:], algorithm=algorithm, threads=1 + start % 2)
        assert same_bits(part, full[start:stop]), (start, stop)


@pytest.mark.parametrize("layer", BATCH_LAYERS[:2] + BATCH_LAYERS[4:], ids=lambda layer: f"{layer[0]}*{layer[1]}")
def test_grad_input_is_independent_of_the_batch(layer):
    xs, ws, s, p, d, g, mode = layer
    if isinstance(p, str):
        pytest.skip("conv2d_backward takes numeric padding")
    x, w = data(layer, np.float32, seed=4)
    dy = np.random.default_rng(5).standard_normal(convinit.conv2d(x, w, None, s, p, d, g, mode).shape).astype(np.float32)
    full, _, _ = convinit.conv2d_backward(x, w, dy, s, p, d, g, (True, False, False), padding_mode=mode)
    for i in range(len(x)):
        one, _, _ = convinit.conv2d_backward(x[i:i + 1], w, dy[i:i + 1], s, p, d, g, (True, False, False),
                                             padding_mode=mode)
        assert same_bits(one, full[i:i + 1]), i


@pytest.mark.parametrize("algorithm", ["im2col", "implicit_gemm"])
@pytest.mark.parametrize("spatial", [1, 3])
def test_conv1d_and_conv3d_algorithms_match_torch(spatial, algorithm):
    rng = np.random.default_rng(spatial)
    size, kernel = ((50,), (5,)) if spatial == 1 else ((5, 9, 12), (3, 3, 3))
    x = rng.standard_normal((2, 20, *size)).astype(np.float32)
    w = rng.standard_normal((12, 10, *kernel)).astype(np.float32)
    conv = {1: convinit.conv1d, 3: convinit.conv3d}[spatial]
    ref = {1: torch.nn.functional.conv1d, 3: torch.nn.functional.conv3d}[spatial]
    got = conv(x, w, None, 1, 2, 2, 2, algorithm=algorithm)
    want = ref(torch.from_numpy(x).double(), torch.from_numpy(w).double(), None, 1, 2, 2, 2).numpy()
    assert np.abs(got - want).max() / np.abs(want).max() <= 1e-5


# (input, weight, stride, padding, dilation, groups, padding_mode) of 3-D
# layers Winograd computes: 3x3 in height and width, any depth window; or
# F(2, 3) along the depth of a few-channel kernel 3 deep (video stems: odd
# and even output depths, grouped, strided and dilated planes).
WINOGRAD_3D = [
    ((2, 3, 5, 20, 21), (20, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3), 1, 1, "zeros"),
    ((1, 4, 6, 11, 9), (32, 2, 3, 3, 5), (1, 1, 2), (2, 1, 2), (1, 2, 1), 2, "zeros"),
    ((2, 1, 2, 9, 8), (16, 1, 3, 5, 5), 1, (1, 2, 2), 1, 1, "zeros"),
    ((2, 6, 5, 9, 12), (8, 6, 3, 3, 3), 1, 1, 1, 1, "zeros"),
    ((1, 4, 7, 8, 9), (6, 2, 3, 3, 3), (2, 1, 1), (1, 0, 2), (2, 1, 1), 2, "zeros"),
    ((3, 5, 4, 10, 7), (4, 5, 2, 3, 3), 1, (1, 1, 1), 1, 1, "reflect"),
    ((1, 3, 6, 6, 6), (5, 3, 1, 3, 3), (3, 1, 1), 1, 1, 1, "circular"),
    ((2, 4, 3, 5, 6), (4, 4, 3, 3, 3), 1, 1, 1, 1, "replicate"),
]


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("layer", WINOGRAD_3D, ids=lambda layer: f"{layer[0]}*{layer[1]}-{layer[-1]}")
def test_winograd_in_3d_matches_torch_and_is_batch_invariant(layer, dtype, tol):
    """One F(2x2, 3x3) kernel per depth tap, summed over (channel, tap)."""
    x, w = data(layer, dtype, seed=6)
    s, p, d, g, mode = layer[2:]
    b = np.random.default_rng(7).standard_normal(w.shape[0]).astype(dtype)
    got = convinit.conv3d(x, w, b, s, p, d, g, mode, algorithm="winograd")
    pad = (p,) * 3 if isinstance(p, int) else p
    xt = torch.nn.functional.pad(torch.from_numpy(x).double(), [q for q in reversed(pad) for _ in range(2)],
                                 mode="constant" if mode == "zeros" else mode)
    want = torch.nn.functional.conv3d(xt, *(torch.from_numpy(a).double() for a in (w, b)), s, 0, d, g).numpy()
    assert got.dtype == dtype and got.shape == want.shape
    assert np.abs(got - want).max() / np.abs(want).max() <= tol
    assert same_bits(convinit.conv3d(x, w, b, s, p, d, g, mode, algorithm="winograd", threads=1), got)
    for i in range(len(x)):
        one = convinit.conv3d(x[i:i + 1], w, b, s, p, d, g, mode, algorithm="winograd", threads=2)
        assert same_bits(one, got[i:i + 1]), i


def test_winograd_in_3d_refuses_strided_or_dilated_planes():
    x, w = np.ones((1, 2, 4, 8, 8), np.float32), np.ones((2, 2, 3, 3, 3), np.float32)
    for stride, dilation in [((1, 2, 1), 1), (1, (1, 1, 2))]:
        with pytest.raises(ValueError, match="algorithm: 'winograd' needs"):
            convinit.conv3d(x, w, stride=stride, dilation=dilation, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm: 'winograd' needs"):
        convinit.conv3d(x, np.ones((2, 2, 3, 3, 5), np.float32), algorithm="winograd")
    # F(2, 3) along the depth: depth stride 1, undilated, zero padding.
    stem_x, stem_w = np.ones((1, 3, 8, 20, 20), np.float32), np.ones((16, 3, 3, 7, 7), np.float32)
    assert convinit.conv_algorithm(stem_x, stem_w, (1, 2, 2), 3, algorithm="winograd") == "winograd"
    for stride, dilation, mode in [((2, 2, 2), 1, "zeros"), ((1, 2, 2), (2, 1, 1), "zeros"), ((1, 2, 2), 1, "reflect")]:
        with pytest.raises(ValueError, match="algorithm: 'winograd' needs"):
            convinit.conv3d(stem_x, stem_w, None, stride, 3, dilation, padding_mode=mode, algorithm="winograd")


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("spatial", [1, 3])
def test_stems_in_1d_and_3d_match_torch(spatial, dtype, tol):
    """Few input channels in 1-D (wav2vec 2.0's first layer, scaled down)
    and 3-D (r3d's stem, scaled down) through implicit GEMM's direct source."""
    rng = np.random.default_rng(10 + spatial)
    if spatial == 1:
        xs, ws, s, p = (2, 2, 403), (24, 2, 10), 5, 0
    else:
        xs, ws, s, p = (1, 3, 5, 20, 22), (16, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    conv = {1: convinit.conv1d, 3: convinit.conv3d}[spatial]
    ref = {1: torch.nn.functional.conv1d, 3: torch.nn.functional.conv3d}[spatial]
    got = conv(x, w, b, s, p, algorithm="implicit_gemm")
    want = ref(*(torch.from_numpy(a).double() for a in (x, w, b)), s, p).numpy()
    assert np.abs(got - want).max() / np.abs(want).max() <= tol
    assert same_bits(conv(x, w, b, s, p, algorithm="implicit_gemm", threads=1), got)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    pytest.skip("no /proc/cpuinfo to read the CPU's flags from")


def test_conv_tiles_names_the_widest_instruction_set_the_cpu_has():
    import platform

    from convinit import _core

    if platform.machine() not in ("x86_64", "AMD64"):
        assert _core.conv_tiles() == "portable"
        return
    flags = _cpu_flags()
    expected = "avx512" if "avx512f" in flags else "avx2" if {"avx2", "fma"} <= flags else "portable"
    assert _core.conv_tiles() == expected
