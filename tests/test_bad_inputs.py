"""The bad-input matrix: every public function, every argument.

Each case is one test id: a call, the exception class it must raise and a
pattern its message must contain (the name of the argument at fault).
tests/test_errors.py has the first conv2d cases; this file extends them to
the rest of the API. A Rust panic (pyo3_runtime.PanicException derives from
BaseException) is never caught by these ``pytest.raises`` and fails the case.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from functools import partial

import numpy as np
import pytest
import torch

import convinit
from convinit import init
from convinit.init import init_module
from convinit.random import Generator
from convinit.torch import Conv2d

HUGE = (MemoryError, OverflowError)
TOO_WIDE = 2**63  # one past the largest signed 64-bit value


def case(name, exc, match, fn, *args, **kwargs):
    return pytest.param(partial(fn, *args, **kwargs), exc, match, id=name)


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def free(*shape, dtype=np.float32):
    """A read-only array of any size that uses no memory (zero strides)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def read_only(*shape):
    array = zeros(*shape)
    array.flags.writeable = False
    return array


# ---- conv1d / conv2d / conv3d ---------------------------------------------------------

BAD_DTYPES = [np.int32, np.int64, np.bool_, np.complex64, np.float16, object]
NOT_ARRAYS = [None, "abc", [["a", "b"]], {1: 2}]


def _conv_cases(d):
    """Cases for conv{d}d, with 4 input channels, 6 outputs and groups=2."""
    fn = getattr(convinit, f"conv{d}d")
    x, w = zeros(1, 4, *(8,) * d), zeros(6, 2, *(3,) * d)
    conv = partial(fn, x, w, groups=2)
    p = f"conv{d}d-"
    cases = [
        case(p + "input-ndim-low", ValueError, "input", fn, zeros(4, *(8,) * (d - 1)), w, groups=2),
        case(p + "input-ndim-high", ValueError, "input", fn, zeros(1, 1, 4, *(8,) * d), w, groups=2),
        case(p + "weight-ndim", ValueError, "weight", fn, x, zeros(6, 2, *(3,) * (d - 1)), groups=2),
        case(p + "weight-channels", ValueError, "weight", fn, x, w, groups=1),
        case(p + "groups-not-divisor", ValueError, "groups", conv, groups=3),
        case(p + "groups-out-channels", ValueError, "groups", fn, x, zeros(5, 1, *(3,) * d), groups=4),
        case(p + "groups-zero", ValueError, "groups", conv, groups=0),
        case(p + "groups-negative", ValueError, "groups", conv, groups=-2),
        case(p + "groups-float", TypeError, "groups", conv, groups=2.0),
        case(p + "groups-str", TypeError, "groups", conv, groups="2"),
        case(p + "stride-zero", ValueError, "stride", conv, stride=0),
        case(p + "stride-negative", ValueError, "stride", conv, stride=-1),
        case(p + "stride-length", ValueError, "stride", conv, stride=(1,) * (d + 1)),
        case(p + "stride-float", TypeError, "stride", conv, stride=1.0),
        case(p + "stride-none", TypeError, "stride", conv, stride=None),
        case(p + "stride-2**63", OverflowError, "stride", conv, stride=TOO_WIDE),
        case(p + "dilation-zero", ValueError, "dilation", conv, dilation=0),
        case(p + "dilation-negative", ValueError, "dilation", conv, dilation=-2),
        case(p + "dilation-2**64", OverflowError, "dilation", conv, dilation=2**64),
        case(p + "padding-negative", ValueError, "padding", conv, padding=-1),
        case(p + "padding-negative-axis", ValueError, "padding", conv, padding=(0,) * (d - 1) + (-1,)),
        case(p + "padding-unknown-string", ValueError, "padding", conv, padding="full"),
        case(p + "padding-same-strided", ValueError, "padding", conv, padding="same", stride=2),
        case(p + "padding-bool", TypeError, "padding", conv, padding=True),
        case(p + "padding-2**63", OverflowError, "padding", conv, padding=TOO_WIDE),
        case(p + "kernel-larger-than-input", ValueError, "weight", fn, zeros(1, 4, *(2,) * d), w, groups=2),
        case(p + "dilated-kernel-larger", ValueError, "weight", conv, dilation=5),
        case(p + "padding_mode-unknown", ValueError, "padding_mode", conv, padding_mode="mirror"),
        case(p + "padding_mode-none", ValueError, "padding_mode", conv, padding_mode=None),
        case(p + "padding_mode-int", ValueError, "padding_mode", conv, padding_mode=0),
        case(p + "reflect-padding-too-wide", ValueError, "padding", conv, padding=8, padding_mode="reflect"),
        case(p + "circular-padding-too-wide", ValueError, "padding", conv, padding=9, padding_mode="circular"),
        case(p + "bias-shape", ValueError, "bias", conv, bias=zeros(5)),
        case(p + "bias-2d", ValueError, "bias", conv, bias=zeros(6, 1)),
        case(p + "bias-dtype", TypeError, "bias", conv, bias=zeros(6, dtype=np.float64)),
        case(p + "bias-str", TypeError, "bias", conv, bias="abc"),
        case(p + "weight-float64-mixed", TypeError, "weight", fn, x, w.astype(np.float64), groups=2),
        case(p + "threads-zero", ValueError, "threads", conv, threads=0),
        case(p + "threads-str", TypeError, "threads", conv, threads="2"),
        case(p + "output-10TB", MemoryError, f"conv{d}d output", fn, free(1000, 1, *(1000,) * d),
             free(10**4, 1, *(1,) * d)),
        case(p + "output-padding-2**62", HUGE, "output", conv, padding=2**62),
        # A zero-stride view needs a copy: 32 TiB, refused before copying.
        case(p + "strided-input-copy-32TB", MemoryError, "input", fn, free(1, 2 ** (43 - 4 * d), *(16,) * d),
             free(6, 2 ** (42 - 4 * d), *(16,) * d), groups=2),
    ]
    for dtype in BAD_DTYPES:
        name = np.dtype(dtype).name
        cases.append(case(f"{p}input-{name}", TypeError, "input", conv.func, x.astype(dtype), w, groups=2))
        cases.append(case(f"{p}weight-{name}", TypeError, "weight", conv.func, x, w.astype(dtype), groups=2))
    for bad in NOT_ARRAYS:
        label = type(bad).__name__ if not isinstance(bad, list) else "list-of-str"
        cases.append(case(f"{p}input-{label}", TypeError, "input", fn, bad, w, groups=2))
        cases.append(case(f"{p}weight-{label}", TypeError, "weight", fn, x, bad, groups=2))
    return cases


CONV_CASES = _conv_cases(1) + _conv_cases(2) + _conv_cases(3)

# ---- unfold / fold / conv_output_size --------------------------------------------------

X4 = zeros(1, 2, 6, 6)
COLS = zeros(1, 8, 25)  # unfold(X4, 2): 2 channels * 4 taps, 5 * 5 blocks
UNFOLD = partial(convinit.unfold, X4, 2)
FOLD = partial(convinit.fold, COLS, (6, 6), 2)

WINDOW_CASES = [
    case("unfold-input-2d", ValueError, "input", convinit.unfold, zeros(6, 6), 2),
    case("unfold-input-5d", ValueError, "input", convinit.unfold, zeros(1, 1, 2, 6, 6), 2),
    case("unfold-kernel-zero", ValueError, "kernel_size", convinit.unfold, X4, 0),
    case("unfold-kernel-negative", ValueError, "kernel_size", convinit.unfold, X4, -1),
    case("unfold-kernel-3-axes", ValueError, "kernel_size", convinit.unfold, X4, (2, 2, 2)),
    case("unfold-kernel-float", TypeError, "kernel_size", convinit.unfold, X4, 2.0),
    case("unfold-kernel-str", TypeError, "kernel_size", convinit.unfold, X4, "2"),
    case("unfold-kernel-2**63", OverflowError, "kernel_size", convinit.unfold, X4, TOO_WIDE),
    case("unfold-kernel-larger", ValueError, "kernel_size", convinit.unfold, X4, 7),
    case("unfold-dilation-zero", ValueError, "dilation", UNFOLD, dilation=0),
    case("unfold-padding-negative", ValueError, "padding", UNFOLD, padding=-1),
    case("unfold-padding-string", TypeError, "padding", UNFOLD, padding="same"),
    case("unfold-stride-zero", ValueError, "stride", UNFOLD, stride=0),
    case("unfold-stride-negative", ValueError, "stride", UNFOLD, stride=(1, -1)),
    case("unfold-threads-zero", ValueError, "threads", UNFOLD, threads=0),
    case("unfold-output-too-big", MemoryError, "unfold output", convinit.unfold, free(2**10, 2**10, 64, 64), 3),
    case("unfold-padding-2**40", HUGE, "unfold output", UNFOLD, padding=2**40),
    case("fold-input-1d", ValueError, "input", convinit.fold, zeros(8), (6, 6), 2),
    case("fold-input-4d", ValueError, "input", convinit.fold, zeros(1, 8, 25, 1), (6, 6), 2),
    case("fold-output_size-zero", ValueError, "output_size", convinit.fold, COLS, (6, 0), 2),
    case("fold-output_size-negative", ValueError, "output_size", convinit.fold, COLS, -6, 2),
    case("fold-output_size-3-axes", ValueError, "output_size", convinit.fold, COLS, (6, 6, 6), 2),
    case("fold-output_size-str", TypeError, "output_size", convinit.fold, COLS, "66", 2),
    case("fold-output_size-2**63", OverflowError, "output_size", convinit.fold, COLS, (6, TOO_WIDE), 2),
    case("fold-kernel-zero", ValueError, "kernel_size", convinit.fold, COLS, (6, 6), 0),
    case("fold-kernel-larger", ValueError, "kernel_size", convinit.fold, zeros(1, 98, 1), (6, 6), 7),
    case("fold-channels-not-divisible", ValueError, "input", convinit.fold, zeros(1, 7, 25), (6, 6), 2),
    case("fold-blocks-mismatch", ValueError, "input", convinit.fold, zeros(1, 8, 24), (6, 6), 2),
    case("fold-dilation-zero", ValueError, "dilation", FOLD, dilation=0),
    case("fold-padding-negative", ValueError, "padding", FOLD, padding=-1),
    case("fold-stride-zero", ValueError, "stride", FOLD, stride=0),
    case("fold-threads-negative", ValueError, "threads", FOLD, threads=-1),
    case("fold-output-8PB", MemoryError, "fold output", convinit.fold, zeros(1, 2**10, 1), (2**20, 2**20), 1,
         stride=2**20),
    case("conv_output_size-size-negative", ValueError, "size", convinit.conv_output_size, -1, 3),
    case("conv_output_size-size-str", TypeError, "size", convinit.conv_output_size, "5", 3),
    case("conv_output_size-size-none", TypeError, "size", convinit.conv_output_size, None, 3),
    case("conv_output_size-size-float", TypeError, "size", convinit.conv_output_size, 5.0, 3),
    case("conv_output_size-size-bool", TypeError, "size", convinit.conv_output_size, True, 1),
    case("conv_output_size-size-2**64", OverflowError, "size", convinit.conv_output_size, 2**64, 3),
    case("conv_output_size-kernel-zero", ValueError, "kernel_size", convinit.conv_output_size, 5, 0),
    case("conv_output_size-kernel-larger", ValueError, "kernel_size", convinit.conv_output_size, 5, 7),
    case("conv_output_size-stride-negative", ValueError, "stride", convinit.conv_output_size, 5, 3, stride=-1),
    case("conv_output_size-dilation-zero", ValueError, "dilation", convinit.conv_output_size, 5, 3, dilation=0),
    case("conv_output_size-padding-negative", ValueError, "padding", convinit.conv_output_size, 5, 3, padding=-1),
    case("conv_output_size-lengths-differ", ValueError, "size", convinit.conv_output_size, (5, 5), (3, 3, 3)),
]

# ---- correlate2d / convolve2d ------------------------------------------------------

A, B = zeros(5, 5, dtype=np.float64), zeros(2, 2, dtype=np.float64)


def _signal_cases(fn):
    p = fn.__name__ + "-"
    call = partial(fn, A, B)
    return [
        case(p + "in1-1d", ValueError, "in1", fn, zeros(5), B),
        case(p + "in2-3d", ValueError, "in2", fn, A, zeros(2, 2, 2)),
        case(p + "in1-complex", TypeError, "in1", fn, A.astype(complex), B),
        case(p + "in2-complex", TypeError, "in2", fn, A, B.astype(complex)),
        case(p + "in1-object", TypeError, "in1", fn, A.astype(object), B),
        case(p + "in1-none", TypeError, "in1", fn, None, B),
        case(p + "in2-str", TypeError, "in2", fn, A, "ab"),
        case(p + "in1-list-of-str", TypeError, "in1", fn, [["a", "b"]], B),
        case(p + "in1-empty", ValueError, "in1", fn, zeros(0, 5), B),
        case(p + "valid-neither-larger", ValueError, "in1, in2", fn, zeros(5, 2), zeros(2, 5), mode="valid"),
        case(p + "mode-unknown", ValueError, "mode", call, mode="sideways"),
        case(p + "mode-int", ValueError, "mode", call, mode=1),
        case(p + "mode-none", ValueError, "mode", call, mode=None),
        case(p + "boundary-unknown", ValueError, "boundary", call, boundary="mirror"),
        case(p + "boundary-none", ValueError, "boundary", call, boundary=None),
        case(p + "boundary-list", ValueError, "boundary", call, boundary=["fill"]),
        case(p + "fillvalue-str", ValueError, "fillvalue", call, fillvalue="x"),
        case(p + "fillvalue-none", ValueError, "fillvalue", call, fillvalue=None),
        case(p + "fillvalue-complex", TypeError, "fillvalue", call, fillvalue=1j),
        case(p + "threads-zero", ValueError, "threads", call, threads=0),
        case(p + "output-8TB", MemoryError, "correlate2d output", fn, free(2**20, 2**20, dtype=np.float64),
             free(2**10, 2**10, dtype=np.float64)),
        case(p + "padded-input-too-big", MemoryError, "in1", fn, free(4, 4, dtype=np.float64),
             free(2**17, 2**17, dtype=np.float64), mode="same"),
    ]


SIGNAL_CASES = _signal_cases(convinit.correlate2d) + _signal_cases(convinit.convolve2d)

# ---- conv2d_backward / conv_transpose2d --------------------------------------------

XB, WB, DY = zeros(1, 4, 8, 8), zeros(6, 2, 3, 3), zeros(1, 6, 6, 6)
BACKWARD = partial(convinit.conv2d_backward, XB, WB, DY, groups=2)
WT = zeros(4, 3, 3, 3)  # transposed: 4 inputs, 3 outputs per group
TRANSPOSE = partial(convinit.conv_transpose2d, XB, WT)

GRADIENT_CASES = [
    case("backward-grad_output-shape", ValueError, "grad_output", convinit.conv2d_backward, XB, WB, DY[:, :5],
         groups=2),
    case("backward-grad_output-unbatched", ValueError, "grad_output", convinit.conv2d_backward, XB, WB, DY[0],
         groups=2),
    case("backward-grad_output-float64", TypeError, "grad_output", convinit.conv2d_backward, XB, WB,
         DY.astype(np.float64), groups=2),
    case("backward-grad_output-int", TypeError, "grad_output", convinit.conv2d_backward, XB, WB,
         DY.astype(np.int32), groups=2),
    case("backward-grad_output-none", TypeError, "grad_output", convinit.conv2d_backward, XB, WB, None, groups=2),
    case("backward-input-5d", ValueError, "input", convinit.conv2d_backward, XB[None], WB, DY, groups=2),
    case("backward-input-complex", TypeError, "input", convinit.conv2d_backward, XB.astype(complex), WB, DY,
         groups=2),
    case("backward-weight-3d", ValueError, "weight", convinit.conv2d_backward, XB, WB[0], DY, groups=2),
    case("backward-weight-bool", TypeError, "weight", convinit.conv2d_backward, XB, WB.astype(bool), DY, groups=2),
    case("backward-groups-mismatch", ValueError, "groups", BACKWARD, groups=3),
    case("backward-stride-zero", ValueError, "stride", BACKWARD, stride=0),
    case("backward-stride-2**63", OverflowError, "stride", BACKWARD, stride=TOO_WIDE),
    case("backward-dilation-negative", ValueError, "dilation", BACKWARD, dilation=-1),
    case("backward-padding-negative", ValueError, "padding", BACKWARD, padding=-1),
    case("backward-padding-unknown", ValueError, "padding", BACKWARD, padding="full"),
    case("backward-padding_mode-unknown", ValueError, "padding_mode", BACKWARD, padding_mode="mirror"),
    case("backward-output_mask-two", ValueError, "output_mask", BACKWARD, output_mask=(True, True)),
    case("backward-output_mask-none", TypeError, "output_mask", BACKWARD, output_mask=None),
    case("backward-output_mask-str", TypeError, "output_mask", BACKWARD, output_mask="yes"),
    case("backward-output_mask-ints", TypeError, "output_mask", BACKWARD, output_mask=(1, 0, 2)),
    case("backward-threads-zero", ValueError, "threads", BACKWARD, threads=0),
    case("backward-weight-copy-4TB", MemoryError, "weight", convinit.conv2d_backward, free(1, 2**20, 1, 1),
         free(2**20, 2**20, 1, 1), free(1, 2**20, 1, 1)),
    case("transpose-input-2d", ValueError, "input", convinit.conv_transpose2d, XB[0, 0], WT),
    case("transpose-input-int", TypeError, "input", convinit.conv_transpose2d, XB.astype(int), WT),
    case("transpose-input-none", TypeError, "input", convinit.conv_transpose2d, None, WT),
    case("transpose-weight-3d", ValueError, "weight", convinit.conv_transpose2d, XB, WT[0]),
    case("transpose-weight-channels", ValueError, "weight", convinit.conv_transpose2d, XB, zeros(5, 3, 3, 3)),
    case("transpose-weight-float64", TypeError, "weight", convinit.conv_transpose2d, XB, WT.astype(np.float64)),
    case("transpose-bias-shape", ValueError, "bias", TRANSPOSE, bias=zeros(4)),
    case("transpose-bias-float16", TypeError, "bias", TRANSPOSE, bias=zeros(3, dtype=np.float16)),
    case("transpose-groups-zero", ValueError, "groups", TRANSPOSE, groups=0),
    case("transpose-groups-not-divisor", ValueError, "groups", TRANSPOSE, groups=3),
    case("transpose-groups-str", TypeError, "groups", TRANSPOSE, groups="2"),
    case("transpose-stride-zero", ValueError, "stride", TRANSPOSE, stride=0),
    case("transpose-stride-2**63", OverflowError, "stride", TRANSPOSE, stride=TOO_WIDE),
    case("transpose-dilation-zero", ValueError, "dilation", TRANSPOSE, dilation=0),
    case("transpose-padding-negative", ValueError, "padding", TRANSPOSE, padding=-1),
    case("transpose-padding-too-wide", ValueError, "padding", TRANSPOSE, padding=10),
    case("transpose-output_padding-negative", ValueError, "output_padding", TRANSPOSE, output_padding=-1),
    case("transpose-output_padding-too-big", ValueError, "output_padding", TRANSPOSE, output_padding=1),
    case("transpose-threads-str", TypeError, "threads", TRANSPOSE, threads="1"),
    case("transpose-output-256PB", MemoryError, "conv_transpose2d output", convinit.conv_transpose2d,
         free(1, 1, 2**20, 2**20), free(1, 2**10, 4, 4), stride=4),
    case("transpose-output-stride-2**62", HUGE, "output", TRANSPOSE, stride=2**62),
]


@pytest.mark.parametrize("call, exc, match", CONV_CASES + WINDOW_CASES + SIGNAL_CASES + GRADIENT_CASES)
def test_conv_api_refuses(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# Arguments equal to a valid call's (True == 1, 2.0 == 2) must still be
# refused after that call: its checks are looked up by the arguments.
LOOKALIKES = [
    ("stride", True, TypeError), ("stride", (1, True), TypeError), ("padding", 1.0, TypeError),
    ("dilation", np.float64(1), TypeError), ("groups", True, TypeError), ("threads", 2.0, TypeError),
    ("stride", [1, 0], ValueError),
]


@pytest.mark.parametrize("name, value, exc", LOOKALIKES, ids=lambda v: repr(v))
def test_conv_refuses_lookalikes_of_a_valid_call(name, value, exc):
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    valid = {"stride": 1, "padding": 1, "dilation": 1, "groups": 1, "threads": 2}
    expected = convinit.conv2d(x, w, **valid)
    assert np.array_equal(convinit.conv2d(x, w, **valid), expected)
    with pytest.raises(exc, match=name):
        convinit.conv2d(x, w, **{**valid, name: value})
    with pytest.raises(exc, match=name):
        convinit.conv2d_backward(x, w, expected, **{**valid, name: value})

# ---- convinit.init ----------------------------------------------------------------

RANDOM = ["uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
          "kaiming_normal", "orthogonal", "sparse"]  # fmt: skip
FIXED = ["constant", "zeros", "ones", "eye", "dirac"]
# Positional arguments each initializer needs and a shape it accepts.
REQUIRED = {"constant": (0.5,), "sparse": (0.1,)}
SHAPE = {"dirac": (4, 2, 3), "eye": (3, 4)}


def _fill(name, in_place=False):
    fn = getattr(init, name + ("_" if in_place else ""))
    rng = {"seed": 0} if name in RANDOM else {}
    return fn, REQUIRED.get(name, ()), rng


def _target_cases(name):
    fn, args, rng = _fill(name, in_place=True)
    shape = SHAPE.get(name, (3, 4))
    targets = {
        "int32": zeros(*shape, dtype=np.int32), "bool": zeros(*shape, dtype=bool),
        "longdouble": zeros(*shape, dtype=np.longdouble), "complex64": zeros(*shape, dtype=np.complex64),
        "object": zeros(*shape, dtype=object), "torch-int64": torch.zeros(shape, dtype=torch.int64),
        "torch-float8": torch.zeros(shape, dtype=torch.float8_e4m3fn), "none": None, "list": [[0.0] * 4] * 3,
        "str": "abc",
    }
    cases = [case(f"{name}_-tensor-{label}", TypeError, "tensor", fn, target, *args, **rng)
             for label, target in targets.items()]
    cases.append(case(f"{name}_-tensor-read-only", ValueError, "tensor", fn, read_only(*shape), *args, **rng))
    cases.append(case(f"{name}_-unknown-keyword", TypeError, "flat_range", fn, zeros(*shape), *args,
                      flat_range=(0, 1), **rng))
    return cases


def _allocating_cases(name):
    fn, args, rng = _fill(name)
    shape = SHAPE.get(name, (3, 4))
    call = partial(fn, shape, *args, **rng)
    big = (2**20,) * len(shape)
    cases = [
        case(f"{name}-shape-negative", ValueError, "shape", fn, (3, -4), *args, **rng),
        case(f"{name}-shape-float", TypeError, "shape", fn, (3, 4.0), *args, **rng),
        case(f"{name}-shape-str", TypeError, "shape", fn, "34", *args, **rng),
        case(f"{name}-shape-none", TypeError, "shape", fn, None, *args, **rng),
        case(f"{name}-shape-8PB", MemoryError, "shape", fn, big[:-1] + (2**30,), *args, **rng),
        case(f"{name}-shape-2**80-elements", HUGE, "shape", fn, big[:-1] + (2**60,), *args, **rng),
        case(f"{name}-dtype-int32", TypeError, "dtype", call, dtype="int32"),
        case(f"{name}-dtype-unknown", TypeError, "dtype", call, dtype="float33"),
        case(f"{name}-dtype-longdouble", TypeError, "dtype", call, dtype=np.longdouble),
        case(f"{name}-dtype-complex", TypeError, "dtype", call, dtype=np.complex64),
        case(f"{name}-dtype-object", TypeError, "dtype", call, dtype=object),
        case(f"{name}-dtype-torch-int", TypeError, "dtype", call, dtype=torch.int32),
        case(f"{name}-flat_range-reversed", ValueError, "flat_range", call, flat_range=(5, 2)),
        case(f"{name}-flat_range-negative", ValueError, "flat_range", call, flat_range=(-1, 2)),
        case(f"{name}-flat_range-past-end", ValueError, "flat_range", call, flat_range=(0, math.prod(shape) + 1)),
        case(f"{name}-flat_range-three", TypeError, "flat_range", call, flat_range=(0, 1, 2)),
        case(f"{name}-flat_range-float", TypeError, "flat_range", call, flat_range=(0.0, 1)),
        case(f"{name}-flat_range-int", TypeError, "flat_range", call, flat_range=3),
        case(f"{name}-unknown-keyword", TypeError, "bogus", call, bogus=1),
    ]
    if name not in RANDOM:
        cases.append(case(f"{name}-seed-not-taken", TypeError, "seed", fn, shape, *args, seed=0))
    return cases


SEEDS = {"-1": (ValueError, -1), "2**64": (ValueError, 2**64), "float": (TypeError, 1.0),
         "bool": (TypeError, True), "str": (TypeError, "1"), "numpy-float": (TypeError, np.float64(3))}


def _seed_cases(name):
    fn, args, _ = _fill(name)
    in_place, _, _ = _fill(name, in_place=True)
    shape = SHAPE.get(name, (3, 4))
    cases = [case(f"{name}-seed-{label}", exc, "seed", fn, shape, *args, seed=seed)
             for label, (exc, seed) in SEEDS.items()]
    cases += [
        case(f"{name}_-seed-negative", ValueError, "seed", in_place, zeros(*shape), *args, seed=-1),
        case(f"{name}-seed-and-generator", ValueError, "seed, generator", fn, shape, *args, seed=1,
             generator=Generator(1)),
        case(f"{name}-generator-numpy", TypeError, "generator", fn, shape, *args,
             generator=np.random.default_rng(0)),
        # A CPU torch.Generator is accepted (torch's own stream, tests/test_torchgen.py).
        case(f"{name}-seed-and-torch-generator", ValueError, "seed, generator", fn, shape, *args, seed=1,
             generator=torch.Generator()),
        case(f"{name}-generator-int", TypeError, "generator", fn, shape, *args, generator=3),
    ]
    return cases


INIT_MATRIX = [c for name in RANDOM + FIXED for c in _target_cases(name) + _allocating_cases(name)]
INIT_MATRIX += [c for name in RANDOM for c in _seed_cases(name)]

INIT_PARAMETER_CASES = [
    case("uniform-a-above-b", ValueError, "a", init.uniform, (3,), 2.0, 1.0, seed=0),
    case("uniform-a-nan", ValueError, "a", init.uniform, (3,), float("nan"), 1.0, seed=0),
    case("uniform-b-inf", ValueError, "b", init.uniform, (3,), 0.0, float("inf"), seed=0),
    case("uniform-range-overflows", ValueError, "b - a", init.uniform, (3,), -1e308, 1e308, seed=0),
    case("uniform-a-str", TypeError, "a", init.uniform, (3,), "0", 1.0, seed=0),
    case("uniform-b-none", TypeError, "b", init.uniform, (3,), 0.0, None, seed=0),
    case("uniform-a-complex", TypeError, "a", init.uniform, (3,), 1j, seed=0),
    case("normal-std-negative", ValueError, "std", init.normal, (3,), 0.0, -1.0, seed=0),
    case("normal-std-inf", ValueError, "std", init.normal, (3,), 0.0, float("inf"), seed=0),
    case("normal-mean-nan", ValueError, "mean", init.normal, (3,), float("nan"), seed=0),
    case("normal-mean-str", TypeError, "mean", init.normal, (3,), "0", seed=0),
    case("normal-std-bool", TypeError, "std", init.normal, (3,), 0.0, True, seed=0),
    case("trunc_normal-a-above-b", ValueError, "a", init.trunc_normal, (3,), a=2.0, b=1.0, seed=0),
    case("trunc_normal-std-negative", ValueError, "std", init.trunc_normal, (3,), std=-0.5, seed=0),
    case("trunc_normal-far-tail", ValueError, "a", init.trunc_normal, (3,), a=100.0, b=101.0, seed=0),
    case("trunc_normal-b-str", TypeError, "b", init.trunc_normal, (3,), b="2", seed=0),
    case("constant-val-str", TypeError, "val", init.constant, (3,), "x"),
    case("constant-val-none", TypeError, "val", init.constant, (3,), None),
    case("constant-val-missing", TypeError, "val", init.constant, (3,)),
    case("constant_-val-list", TypeError, "val", init.constant_, zeros(3), [1.0]),
    case("eye-3d", ValueError, "shape", init.eye, (3, 3, 3)),
    case("eye_-1d", ValueError, "shape", init.eye_, zeros(3)),
    case("dirac-2d", ValueError, "shape", init.dirac, (3, 3)),
    case("dirac_-6d", ValueError, "shape", init.dirac_, zeros(1, 1, 1, 1, 1, 1)),
    case("dirac-groups-zero", ValueError, "groups", init.dirac, (4, 4, 3), groups=0),
    case("dirac-groups-not-divisor", ValueError, "groups", init.dirac, (4, 4, 3), groups=3),
    case("dirac-groups-float", TypeError, "groups", init.dirac, (4, 4, 3), groups=2.0),
    case("dirac-groups-bool", TypeError, "groups", init.dirac, (4, 4, 3), groups=True),
    case("xavier_uniform-1d", ValueError, "shape", init.xavier_uniform, (3,), seed=0),
    case("xavier_normal-0d", ValueError, "shape", init.xavier_normal, (), seed=0),
    case("xavier_uniform-gain-str", TypeError, "gain", init.xavier_uniform, (3, 3), gain="1", seed=0),
    case("xavier_uniform-gain-negative", ValueError, "gain", init.xavier_uniform, (3, 3), gain=-1.0, seed=0),
    case("xavier_normal-gain-nan", ValueError, "gain", init.xavier_normal, (3, 3), gain=float("nan"), seed=0),
    case("xavier_normal-gain-inf", ValueError, "gain", init.xavier_normal, (3, 3), gain=float("inf"), seed=0),
    case("xavier_uniform-zero-fans", ValueError, "shape", init.xavier_uniform, (0, 0), seed=0),
    case("kaiming_uniform-mode-unknown", ValueError, "mode", init.kaiming_uniform, (3, 3), mode="fan_avg", seed=0),
    case("kaiming_normal-mode-none", ValueError, "mode", init.kaiming_normal, (3, 3), mode=None, seed=0),
    case("kaiming_normal-nonlinearity-unknown", ValueError, "nonlinearity", init.kaiming_normal, (3, 3),
         nonlinearity="gelu", seed=0),
    case("kaiming_uniform-nonlinearity-none", ValueError, "nonlinearity", init.kaiming_uniform, (3, 3),
         nonlinearity=None, seed=0),
    case("kaiming_uniform-a-str", ValueError, "a", init.kaiming_uniform, (3, 3), a="0.1", seed=0),
    case("kaiming_normal-a-nan", ValueError, "a", init.kaiming_normal, (3, 3), a=float("nan"), seed=0),
    case("kaiming_normal-1d", ValueError, "shape", init.kaiming_normal, (5,), seed=0),
    case("kaiming_uniform_-1d", ValueError, "shape", init.kaiming_uniform_, zeros(5), seed=0),
    case("orthogonal-1d", ValueError, "shape", init.orthogonal, (5,), seed=0),
    case("orthogonal-gain-str", TypeError, "gain", init.orthogonal, (3, 3), gain="2", seed=0),
    case("sparse-3d", ValueError, "shape", init.sparse, (3, 3, 3), 0.1, seed=0),
    case("sparse-sparsity-above-1", ValueError, "sparsity", init.sparse, (3, 3), 1.5, seed=0),
    case("sparse-sparsity-negative", ValueError, "sparsity", init.sparse, (3, 3), -0.1, seed=0),
    case("sparse-sparsity-nan", ValueError, "sparsity", init.sparse, (3, 3), float("nan"), seed=0),
    case("sparse-sparsity-str", TypeError, "sparsity", init.sparse, (3, 3), "0.1", seed=0),
    case("sparse-std-negative", ValueError, "std", init.sparse, (3, 3), 0.1, std=-1.0, seed=0),
    # torch's own messages, kept word for word: they name the nonlinearity and
    # call the slope negative_slope.
    case("calculate_gain-unknown", ValueError, "Unsupported nonlinearity", init.calculate_gain, "softmax"),
    case("calculate_gain-case", ValueError, "Unsupported nonlinearity", init.calculate_gain, "ReLU"),
    case("calculate_gain-none", ValueError, "Unsupported nonlinearity", init.calculate_gain, None),
    case("calculate_gain-param-str", ValueError, "negative_slope", init.calculate_gain, "leaky_relu", "0.1"),
    case("calculate_gain-param-bool", ValueError, "negative_slope", init.calculate_gain, "leaky_relu", True),
    case("fans-1d", ValueError, "shape", init.fans, (5,)),
    case("fans-0d-array", ValueError, "shape", init.fans, np.zeros(())),
    case("fans-str", TypeError, "shape", init.fans, "abc"),
    case("fans-none", TypeError, "shape", init.fans, None),
    case("fans-negative", ValueError, "shape", init.fans, (3, -1)),
    case("fans-float", TypeError, "shape", init.fans, (3, 1.5)),
]


@pytest.mark.parametrize("call, exc, match", INIT_MATRIX + INIT_PARAMETER_CASES)
def test_init_refuses(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_xavier_zero_fans_is_also_torchs_zero_division():
    # torch divides by fan_in + fan_out and raises ZeroDivisionError: both
    # ways of catching it work.
    with pytest.raises(ZeroDivisionError):
        torch.nn.init.xavier_uniform_(torch.empty(0, 0))
    with pytest.raises(ZeroDivisionError, match="shape"):
        init.xavier_normal_(zeros(0, 0), seed=0)


# ---- Generator, philox4x32_10 --------------------------------------------------------

G = Generator(0)


def _exhaust():
    g = Generator(0, 2**64 - 1)
    g.uniform()
    g.uniform()

STATE = {"algorithm": "philox4x32_10", "seed": 1, "stream": 2}

GENERATOR_CASES = [
    *[case(f"Generator-seed-{label}", exc, "seed", Generator, seed) for label, (exc, seed) in SEEDS.items()],
    case("Generator-seed-none", TypeError, "seed", Generator, None),
    case("Generator-stream-negative", ValueError, "stream", Generator, 0, -1),
    case("Generator-stream-2**64", ValueError, "stream", Generator, 0, 2**64),
    case("Generator-stream-float", TypeError, "stream", Generator, 0, 1.0),
    case("random_raw-n-negative", ValueError, "n", G.random_raw, -1),
    case("random_raw-n-float", TypeError, "n", G.random_raw, 1.5),
    case("random_raw-n-str", TypeError, "n", G.random_raw, "3"),
    case("random_raw-n-16EB", MemoryError, "n", G.random_raw, 2**62),
    case("random_raw-threads-zero", ValueError, "threads", G.random_raw, 3, threads=0),
    case("uniform-size-negative", ValueError, "size", G.uniform, size=(-1,)),
    case("uniform-size-str", TypeError, "size", G.uniform, size="3"),
    case("uniform-size-float", TypeError, "size", G.uniform, size=3.0),
    case("uniform-size-2**80", OverflowError, "size", G.uniform, size=(2**40, 2**40)),
    case("normal-size-4TB", MemoryError, "size", G.normal, size=(2**40,)),
    case("uniform-low-above-high", ValueError, "a", G.uniform, 2.0, 1.0, size=3),
    case("uniform-low-str", TypeError, "a", G.uniform, "0", size=3),
    case("uniform-dtype-int", TypeError, "dtype", G.uniform, size=3, dtype="int32"),
    case("uniform-dtype-unknown", TypeError, "dtype", G.uniform, size=3, dtype="float33"),
    case("normal-std-negative", ValueError, "std", G.normal, 0.0, -1.0, size=3),
    case("normal-mean-none", TypeError, "mean", G.normal, None, size=3),
    case("trunc_normal-a-above-b", ValueError, "a", G.trunc_normal, a=1.0, b=0.0, size=3),
    case("trunc_normal-threads-too-many", ValueError, "threads", G.trunc_normal, size=3, threads=10**6),
    case("uniform-threads-str", TypeError, "threads", G.uniform, size=3, threads="2"),
    case("uniform-flat_range-reversed", ValueError, "flat_range", G.uniform, size=10, flat_range=(3, 1)),
    case("normal-flat_range-past-end", ValueError, "flat_range", G.normal, size=10, flat_range=(0, 11)),
    case("streams-exhausted", OverflowError, "streams", _exhaust),
    case("from_state-algorithm", ValueError, "state", Generator.from_state, {**STATE, "algorithm": "mt19937"}),
    case("from_state-missing-seed", ValueError, "state", Generator.from_state, {"algorithm": "philox4x32_10",
                                                                             "stream": 0}),
    case("from_state-none", ValueError, "state", Generator.from_state, None),
    case("from_state-seed-negative", ValueError, "seed", Generator.from_state, {**STATE, "seed": -1}),
    case("from_state-stream-float", TypeError, "stream", Generator.from_state, {**STATE, "stream": 0.5}),
    case("philox-counter-three-words", ValueError, "counter", convinit.philox4x32_10, (0, 0, 0), (0, 0)),
    case("philox-counter-2**32", ValueError, "counter", convinit.philox4x32_10, (2**32, 0, 0, 0), (0, 0)),
    case("philox-counter-none", TypeError, "counter", convinit.philox4x32_10, None, (0, 0)),
    case("philox-key-negative", ValueError, "key", convinit.philox4x32_10, (0, 0, 0, 0), (-1, 0)),
    case("philox-key-str", TypeError, "key", convinit.philox4x32_10, (0, 0, 0, 0), "ab"),
]


@pytest.mark.parametrize("call, exc, match", GENERATOR_CASES)
def test_generator_refuses(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- init_module, convinit.torch.Conv2d -------------------------------------------------


def linear():
    return torch.nn.Linear(3, 2)


MODULE_CASES = [
    case("init_module-scheme-unknown", ValueError, "scheme", init_module, linear(), "magic"),
    case("init_module-scheme-none", ValueError, "scheme", init_module, linear(), None),
    case("init_module-scheme-list", ValueError, "scheme", init_module, linear(), ["zeros"]),
    case("init_module-module-none", TypeError, "module", init_module, None),
    case("init_module-module-array", TypeError, "module", init_module, zeros(3)),
    case("init_module-module-class", TypeError, "module", init_module, torch.nn.Linear),
    *[case(f"init_module-seed-{label}", exc, "seed", init_module, linear(), seed=seed)
      for label, (exc, seed) in SEEDS.items()],
    case("init_module-seed-none", TypeError, "seed", init_module, linear(), seed=None),
    case("init_module-mode-unknown", ValueError, "mode", init_module, linear(), mode="fan_avg"),
    case("init_module-nonlinearity-unknown", ValueError, "nonlinearity", init_module, linear(),
         nonlinearity="gelu"),
    case("init_module-option-unknown", TypeError, "bogus", init_module, linear(), bogus=1),
    case("init_module-zeros-with-option", TypeError, "std", init_module, linear(), "zeros", std=1.0),
    case("init_module-torch_default-with-option", TypeError, "std", init_module, linear(), "torch_default",
         std=1.0),
    case("init_module-float8-module", TypeError, "tensor", init_module, torch.nn.Linear(3, 2).to(torch.float8_e4m3fn)),
    case("Conv2d-in_channels-negative", ValueError, "in_channels", Conv2d, -1, 6, 3),
    case("Conv2d-in_channels-str", TypeError, "in_channels", Conv2d, "4", 6, 3),
    case("Conv2d-out_channels-negative", ValueError, "out_channels", Conv2d, 4, -6, 3),
    case("Conv2d-out_channels-float", TypeError, "out_channels", Conv2d, 4, 6.0, 3),
    case("Conv2d-kernel-zero", ValueError, "kernel_size", Conv2d, 4, 6, 0),
    case("Conv2d-kernel-negative", ValueError, "kernel_size", Conv2d, 4, 6, (3, -1)),
    case("Conv2d-kernel-3-axes", ValueError, "kernel_size", Conv2d, 4, 6, (3, 3, 3)),
    case("Conv2d-kernel-2**63", OverflowError, "kernel_size", Conv2d, 4, 6, TOO_WIDE),
    case("Conv2d-stride-zero", ValueError, "stride", Conv2d, 4, 6, 3, stride=0),
    case("Conv2d-stride-negative", ValueError, "stride", Conv2d, 4, 6, 3, stride=-2),
    case("Conv2d-padding-negative", ValueError, "padding", Conv2d, 4, 6, 3, padding=-1),
    case("Conv2d-padding-unknown", ValueError, "padding", Conv2d, 4, 6, 3, padding="full"),
    case("Conv2d-padding-same-strided", ValueError, "padding", Conv2d, 4, 6, 3, padding="same", stride=2),
    case("Conv2d-dilation-zero", ValueError, "dilation", Conv2d, 4, 6, 3, dilation=0),
    case("Conv2d-groups-zero", ValueError, "groups", Conv2d, 4, 6, 3, groups=0),
    case("Conv2d-groups-in-not-divisible", ValueError, "groups", Conv2d, 4, 6, 3, groups=3),
    case("Conv2d-groups-out-not-divisible", ValueError, "groups", Conv2d, 4, 6, 3, groups=4),
    case("Conv2d-groups-float", TypeError, "groups", Conv2d, 4, 6, 3, groups=2.0),
    case("Conv2d-padding_mode-unknown", ValueError, "padding_mode", Conv2d, 4, 6, 3, padding_mode="mirror"),
    case("Conv2d-dtype-int", TypeError, "dtype", Conv2d, 4, 6, 3, dtype=torch.int32),
    case("Conv2d-dtype-float16", TypeError, "dtype", Conv2d, 4, 6, 3, dtype=torch.float16),
    case("Conv2d-device-meta", TypeError, "device", Conv2d, 4, 6, 3, device="meta"),
    case("Conv2d-threads-zero", ValueError, "threads", Conv2d, 4, 6, 3, threads=0),
    case("Conv2d-threads-str", TypeError, "threads", Conv2d, 4, 6, 3, threads="2"),
    case("Conv2d-unknown-keyword", TypeError, "bogus", Conv2d, 4, 6, 3, bogus=1),
    case("Conv2d-missing-kernel", TypeError, "kernel_size", Conv2d, 4, 6),
]


@pytest.mark.parametrize("call, exc, match", MODULE_CASES)
def test_modules_refuse(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- refusing huge work fails fast, before allocating ----------------------------------

FAST_REFUSALS = [
    case("conv2d-10TB", MemoryError, "conv2d output", convinit.conv2d, free(1000, 1, 1000, 1000),
         free(10**4, 1, 1, 1)),
    case("conv3d-padding-2**40", HUGE, "conv3d output", convinit.conv3d, zeros(1, 1, 2, 2, 2),
         zeros(1, 1, 1, 1, 1), padding=2**40),
    case("unfold-10TB", MemoryError, "unfold output", convinit.unfold, free(2**10, 2**10, 64, 64), 3),
    case("normal-2**80", HUGE, "shape", init.normal, (2**40, 2**40), seed=0),
    case("orthogonal-4TB", MemoryError, "shape", init.orthogonal, (2**20, 2**20), seed=0),
    case("random_raw-16EB", MemoryError, "n", Generator(0).random_raw, 2**62),
]


@pytest.mark.parametrize("call, exc, match", FAST_REFUSALS)
def test_huge_requests_fail_fast_without_allocating(call, exc, match):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(exc, match=match):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 64 * 2**20, f"allocated {peak} bytes before refusing"
