"""conv: conv1d/2d/3d over a grid of shapes, strides, paddings (incl. "same"),
dilations, groups, padding modes and dtypes against a float64 reference;
unfold/fold; correlate2d/convolve2d against SciPy; the source text's 6x5
example; bit-identical results across threads."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from ...tools.demo import TEXT_INPUT, TEXT_KERNEL
from ..context import Budget, Context
from ..backends import accepts
from ..records import Check, Task, equal_check, skip_check
from . import register
from .common import as_array, bit_mismatches, case_rng, compare_arrays, thread_variants
from .conv_cover import conv_arguments, covering_array

DTYPES = (np.float32, np.float64)
Padding = Union[int, tuple, str]


@dataclass(frozen=True)
class ConvCase:
    dims: int
    batch: Optional[int]          # None: unbatched input
    channels: int
    size: tuple[int, ...]
    out_channels: int
    kernel: tuple[int, ...]
    stride: Any = 1
    padding: Padding = 0
    dilation: Any = 1
    groups: int = 1
    padding_mode: str = "zeros"
    bias: bool = True
    level: int = 0

    @property
    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
                    padding_mode=self.padding_mode)

    def label(self, dtype: Any) -> str:
        x = (self.channels, *self.size) if self.batch is None else (self.batch, self.channels, *self.size)
        w = (self.out_channels, self.channels // self.groups, *self.kernel)
        parts = [f"conv{self.dims}d", f"x{x}", f"w{w}", f"s{self.stride}", f"p{self.padding}", f"d{self.dilation}",
                 f"g{self.groups}", self.padding_mode, "bias" if self.bias else "no-bias", np.dtype(dtype).name]
        return " ".join(p.replace(" ", "") for p in parts)

    def arrays(self, seed: int, dtype: Any) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        rng = case_rng(seed, self.label(dtype))
        x_shape = (self.channels, *self.size) if self.batch is None else (self.batch, self.channels, *self.size)
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal((self.out_channels, self.channels // self.groups, *self.kernel)).astype(dtype)
        b = rng.standard_normal(self.out_channels).astype(dtype) if self.bias else None
        return x, w, b


GRID = [
    # level 0 (--quick): each feature at least once; "same" with an even kernel and
    # asymmetric paddings expose off-by-one padding, non-symmetric kernels a flip.
    ConvCase(2, 2, 3, (9, 8), 4, (3, 3)),
    ConvCase(2, 2, 4, (11, 10), 6, (3, 2), stride=2, padding=1),
    ConvCase(2, 1, 3, (8, 9), 5, (4, 4), padding="same"),
    ConvCase(2, 2, 4, (10, 9), 4, (3, 3), padding=(2, 1), dilation=2, groups=2, bias=False),
    ConvCase(2, 1, 6, (7, 8), 6, (3, 3), padding="same", groups=6),
    ConvCase(2, 2, 3, (8, 8), 4, (3, 3), padding=2, padding_mode="reflect"),
    ConvCase(2, 2, 3, (7, 9), 4, (2, 3), padding=(1, 2), padding_mode="replicate"),
    ConvCase(2, 2, 3, (9, 7), 4, (3, 3), stride=2, padding=1, padding_mode="circular"),
    ConvCase(2, None, 3, (7, 6), 2, (3, 3), padding="valid"),
    ConvCase(2, 1, 512, (6, 6), 8, (3, 3), padding=1),                      # K = 512*3*3 = 4608
    ConvCase(1, 2, 3, (20,), 4, (5,), stride=2, padding=2, dilation=2),
    ConvCase(1, 2, 4, (16,), 4, (4,), padding="same", groups=2, padding_mode="reflect"),
    ConvCase(3, 1, 2, (5, 6, 4), 3, (3, 2, 3), stride=(1, 2, 1), padding=1),
    ConvCase(3, 2, 4, (4, 5, 5), 4, (2, 3, 3), padding="same", groups=2, padding_mode="circular"),
    # level 1 (default)
    ConvCase(2, 4, 32, (16, 16), 64, (3, 3), padding=1, level=1),
    ConvCase(2, 2, 64, (14, 14), 64, (3, 3), padding=1, groups=4, level=1),
    ConvCase(2, 2, 6, (12, 13), 9, (3, 5), stride=(1, 3), padding=(0, 2), dilation=(1, 2), groups=3, level=1),
    ConvCase(2, 2, 4, (11, 12), 4, (2, 4), padding="same", dilation=(2, 1), padding_mode="reflect", level=1),
    ConvCase(2, 3, 16, (9, 9), 8, (1, 1), stride=2, level=1),
    ConvCase(2, 1, 2, (5, 4), 3, (5, 4), level=1),                          # kernel as large as the input
    ConvCase(2, 2, 3, (6, 7), 4, (3, 3), padding=(3, 1), padding_mode="circular", level=1),
    ConvCase(1, None, 8, (33,), 16, (7,), stride=3, padding=3, padding_mode="replicate", level=1),
    ConvCase(3, 1, 8, (6, 6, 6), 8, (3, 3, 3), padding=1, dilation=(1, 2, 1), padding_mode="reflect", level=1),
    # level 2 (--full): layers of DESIGN.md's benchmark table
    ConvCase(2, 8, 64, (56, 56), 64, (3, 3), padding=1, level=2),
    ConvCase(2, 4, 3, (112, 112), 64, (7, 7), stride=2, padding=3, level=2),
    ConvCase(2, 8, 256, (14, 14), 256, (3, 3), padding=1, level=2),
    ConvCase(2, 2, 512, (14, 14), 64, (3, 3), padding=1, level=2),
]


def random_cases(seed: int, count: int) -> list[ConvCase]:
    """Valid random cases (like the hypothesis suite), drawn from --seed."""
    rng = np.random.default_rng([seed, 4242])
    cases = []
    while len(cases) < count:
        dims = int(rng.choice([1, 2, 2, 3]))
        groups = int(rng.choice([1, 1, 2, 3]))
        channels, out = groups * int(rng.integers(1, 5)), groups * int(rng.integers(1, 4))
        kernel = tuple(int(k) for k in rng.integers(1, 5, dims))
        dilation = tuple(int(d) for d in rng.integers(1, 3, dims))
        size = tuple(int(d * (k - 1) + rng.integers(1, 8)) for k, d in zip(kernel, dilation))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        if rng.random() < 0.3:
            padding, stride = "same", 1
        else:
            # reflect needs padding < size; circular padding <= size
            padding = tuple(int(rng.integers(0, min(3, s))) for s in size)
            stride = tuple(int(s) for s in rng.integers(1, 4, dims))
        batch = None if rng.random() < 0.2 else int(rng.integers(1, 4))
        cases.append(ConvCase(dims, batch, channels, size, out, kernel, stride, padding, dilation, groups, mode,
                              bool(rng.random() < 0.7)))
    return cases


def conv_task(case: ConvCase, dtype: Any) -> Task:
    fn_name = f"conv{case.dims}d"
    label = case.label(dtype)

    def run(ctx: Context) -> list[Check]:
        x, w, b = case.arrays(ctx.seed, dtype)
        got = ctx.backend.get(fn_name)(x, w, b, **case.kwargs)
        ref = ctx.refs.conv(case.dims)
        want = ref.fn(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                      **case.kwargs)
        check = compare_arrays(label, ref.label, got, want, dtype)
        check.plot = {"kind": "conv-error", "dtype": np.dtype(dtype).name}
        return [check]

    return Task("conv", label, (fn_name,), run)


@dataclass(frozen=True)
class WindowCase:
    """unfold (im2col) / fold (col2im) arguments on an input of ``shape``."""

    shape: tuple[int, ...]
    kernel_size: Any
    dilation: Any = 1
    padding: Any = 0
    stride: Any = 1
    level: int = 0

    @property
    def kwargs(self) -> dict:
        return dict(kernel_size=self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)


WINDOW_CASES = [
    WindowCase((2, 3, 9, 8), (3, 2), dilation=(2, 1), padding=1, stride=(2, 1)),
    WindowCase((3, 6, 5), 2, stride=2),
    WindowCase((1, 4, 12, 11), 3, padding=(0, 2), stride=(1, 3), dilation=2, level=1),
]


def unfold_task(case: WindowCase, dtype: Any) -> Task:
    label = f"unfold x{case.shape} {case.kwargs} {np.dtype(dtype).name}"

    def run(ctx: Context) -> list[Check]:
        x = case_rng(ctx.seed, label).standard_normal(case.shape).astype(dtype)
        ref = ctx.refs.unfold()
        want = ref.fn(x.astype(np.float64), **case.kwargs)
        return [compare_arrays(label, ref.label, ctx.backend.get("unfold")(x, **case.kwargs), want, dtype)]

    return Task("conv", label, ("unfold",), run)


def fold_task(case: WindowCase, dtype: Any) -> Task:
    label = f"fold to {case.shape} {case.kwargs} {np.dtype(dtype).name}"

    def run(ctx: Context) -> list[Check]:
        ref = ctx.refs.unfold()
        cols_shape = ref.fn(np.zeros(case.shape), **case.kwargs).shape
        cols = case_rng(ctx.seed, label).standard_normal(cols_shape).astype(dtype)
        size = case.shape[-2:]
        fold_ref = ctx.refs.fold()
        want = fold_ref.fn(cols.astype(np.float64), size, **case.kwargs)
        return [compare_arrays(label, fold_ref.label, ctx.backend.get("fold")(cols, size, **case.kwargs), want,
                               dtype)]

    return Task("conv", label, ("fold",), run)


SIGNAL_SHAPES = [((7, 6), (3, 4), 0), ((6, 5), (2, 2), 1), ((5, 9), (4, 3), 1)]


def signal_task(fn_name: str, shapes: tuple, mode: str, boundary: str, dtype: Any) -> Task:
    (s1, s2) = shapes
    label = f"{fn_name} {s1}*{s2} mode={mode} boundary={boundary} {np.dtype(dtype).name}"

    def run(ctx: Context) -> list[Check]:
        rng = case_rng(ctx.seed, label)
        a, b = rng.standard_normal(s1).astype(dtype), rng.standard_normal(s2).astype(dtype)
        ref = ctx.refs.correlate(convolve=fn_name == "convolve2d")
        want = ref.fn(a.astype(np.float64), b.astype(np.float64), mode, boundary, 1.5)
        got = ctx.backend.get(fn_name)(a, b, mode, boundary, 1.5)
        return [compare_arrays(label, ref.label, got, want, dtype)]

    return Task("conv", label, (fn_name,), run)


def signal_tasks(budget: Budget) -> list[Task]:
    tasks = []
    for s1, s2, level in SIGNAL_SHAPES:
        if level > budget.level:
            continue
        dtypes = DTYPES if budget.level else (np.float64,)
        for fn, mode, boundary, dtype in itertools.product(("correlate2d", "convolve2d"), ("full", "same", "valid"),
                                                           ("fill", "wrap", "symm"), dtypes):
            tasks.append(signal_task(fn, (s1, s2), mode, boundary, dtype))
        # 'valid' with the larger array second: SciPy swaps them
        tasks += [signal_task(fn, (s2, s1), "valid", "fill", np.float64) for fn in ("correlate2d", "convolve2d")]
    return tasks


TEXT_REFERENCE = "scipy.signal.correlate2d(x, w, mode='valid')"


def text_tasks() -> list[Task]:
    """Text 000: a 3x3 kernel on a 6x5 input equals correlate2d(valid), also as im2col @ w."""
    def reference(ctx: Context) -> tuple[str, np.ndarray]:
        ref = ctx.refs.correlate(convolve=False)
        label = TEXT_REFERENCE if ref.label.startswith("scipy") else ref.label
        return label, ref.fn(TEXT_INPUT, TEXT_KERNEL, "valid")

    def by_conv2d(ctx: Context) -> list[Check]:
        label, want = reference(ctx)
        got = as_array(ctx.backend.get("conv2d")(TEXT_INPUT[None, None], TEXT_KERNEL[None, None]))[0, 0]
        return [compare_arrays("source text 6x5 example: conv2d", label, got, want, np.float64)]

    def by_correlate2d(ctx: Context) -> list[Check]:
        label, want = reference(ctx)
        got = ctx.backend.get("correlate2d")(TEXT_INPUT, TEXT_KERNEL, mode="valid")
        return [compare_arrays("source text 6x5 example: correlate2d(valid)", label, got, want, np.float64)]

    def by_unfold(ctx: Context) -> list[Check]:
        label, want = reference(ctx)
        cols = as_array(ctx.backend.get("unfold")(TEXT_INPUT[None, None], 3))[0]
        got = (cols.T @ TEXT_KERNEL.ravel()).reshape(want.shape)
        return [compare_arrays("source text 6x5 example: unfold(x).T @ w.ravel()", label, got, want, np.float64)]

    return [Task("conv", "source text example (conv2d)", ("conv2d",), by_conv2d),
            Task("conv", "source text example (correlate2d)", ("correlate2d",), by_correlate2d),
            Task("conv", "source text example (unfold)", ("unfold",), by_unfold)]


THREAD_CASE = ConvCase(2, 2, 16, (24, 24), 32, (3, 3), padding=1)


def thread_task() -> Task:
    name = "conv2d bit-identical across threads"

    def run(ctx: Context) -> list[Check]:
        x, w, b = THREAD_CASE.arrays(ctx.seed, np.float32)

        def call(fn, key, **extra):
            return as_array(fn(x[key:key + 1], w, b, padding=1, **extra))

        mismatches, notes = thread_variants(ctx.backend.get("conv2d"), call, [0, 1])
        return [equal_check(f"{name} {THREAD_CASE.label(np.float32)}", "same call, one thread", mismatches,
                            "; ".join(notes), metric="differing elements")]

    return Task("conv", name, ("conv2d",), run)


ALGORITHMS = ("auto", "im2col", "implicit_gemm", "winograd", "depthwise")
# Shapes the algorithms compute (Winograd F(2x2, 3x3) takes 3x3 kernels with
# stride 1 and no dilation in height and width, and F(2, 3) along the depth
# few-channel 3-D kernels 3 deep; implicit GEMM any shape; depthwise groups
# with at most 8 channels each): odd sizes leave the last output tile partial;
# every padding mode, batched and not, a longer reduction, 3-D stems with odd
# and even output depths. An algorithm the backend refuses for a shape
# (ValueError naming algorithm) is a skip.
ALGORITHM_CASES = [
    ConvCase(2, 2, 8, (9, 10), 8, (3, 3), padding=1, groups=8),
    ConvCase(2, 1, 6, (11, 8), 12, (5, 5), stride=2, padding=2, groups=3, padding_mode="reflect"),
    ConvCase(2, 2, 3, (9, 8), 4, (3, 3)),
    ConvCase(2, 1, 5, (7, 10), 6, (3, 3), padding="same", padding_mode="reflect", bias=False),
    ConvCase(2, None, 4, (6, 5), 3, (3, 3), padding=(2, 1), padding_mode="circular"),
    ConvCase(2, 3, 2, (5, 7), 5, (3, 3), padding=1, padding_mode="replicate"),
    ConvCase(2, 1, 64, (12, 11), 8, (3, 3), padding=1),
    ConvCase(3, 2, 3, (5, 13, 12), 16, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
    ConvCase(3, 1, 2, (6, 9, 8), 20, (3, 5, 3), stride=(1, 2, 1), padding=(2, 2, 1), bias=False),
]


def algorithm_task(case: ConvCase, dtype: Any, algorithm: str) -> Task:
    """conv1d/2d/3d with ``algorithm=...`` forced (backends whose conv takes it)."""
    label = f"{case.label(dtype)} algorithm={algorithm}"
    conv = f"conv{case.dims}d"

    def run(ctx: Context) -> list[Check]:
        fn = ctx.backend.get(conv)
        if not accepts(fn, "algorithm"):
            return [skip_check(label, f"{conv} has no algorithm= parameter")]
        x, w, b = case.arrays(ctx.seed, dtype)
        ref = ctx.refs.conv(case.dims)
        want = ref.fn(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                      **case.kwargs)
        try:
            got = fn(x, w, b, **case.kwargs, algorithm=algorithm)
        except ValueError as exc:
            if "algorithm" not in str(exc):
                raise
            return [skip_check(label, f"the backend declares {algorithm} not for this shape: {exc}")]
        return [compare_arrays(label, ref.label, got, want, dtype)]

    return Task("conv", label, (conv,), run)


BATCH_CASES = [
    ConvCase(2, 6, 64, (28, 28), 64, (3, 3), padding=1),
    ConvCase(2, 5, 16, (12, 13), 16, (3, 3), stride=2, padding=1, groups=16, bias=False),
]


def batch_task(case: ConvCase) -> Task:
    """Each image's output has the same bits whatever batch it is computed in.

    Required of backends that take ``algorithm=`` (convinit's contract,
    which promises it); for others it is reported, not judged: PyTorch does
    not promise it (pytorch/pytorch#134908)."""
    label = f"conv2d batch-invariant {case.label(np.float32)}"

    def run(ctx: Context) -> list[Check]:
        fn = ctx.backend.get("conv2d")
        x, w, b = case.arrays(ctx.seed, np.float32)
        whole = as_array(fn(x, w, b, **case.kwargs))
        differing = sum(bit_mismatches(fn(x[i:i + 1], w, b, **case.kwargs), whole[i:i + 1]) for i in range(len(x)))
        slices = f"each of {len(x)} images alone vs in the batch"
        if accepts(fn, "algorithm"):
            return [equal_check(label, slices, differing, metric="differing elements")]
        return [skip_check(label, f"informational (not part of this backend's contract): {differing} of "
                                  f"{whole.size} elements differ, {slices}")]

    return Task("conv", label, ("conv2d",), run)


def covering_tasks() -> list[Task]:
    """One task per row of the all-pairs covering array (its own dtype)."""
    return [conv_task(ConvCase(**conv_arguments(row)), np.dtype(row["dtype"]).type) for row in covering_array()]


@register("conv", "convolution vs float64 torch/NumPy and scipy.signal references")
def plan(budget: Budget, seed: int) -> list[Task]:
    cases = [c for c in GRID if c.level <= budget.level] + random_cases(seed, budget.random_conv_cases)
    tasks = text_tasks() + covering_tasks()
    tasks += [algorithm_task(case, dtype, a) for a in ALGORITHMS for case in ALGORITHM_CASES for dtype in DTYPES]
    tasks += [conv_task(case, dtype) for case in cases for dtype in DTYPES]
    windows = [c for c in WINDOW_CASES if c.level <= budget.level]
    tasks += [make(case, dtype) for case in windows for make in (unfold_task, fold_task) for dtype in DTYPES]
    tasks += signal_tasks(budget)
    tasks.append(thread_task())
    tasks += [batch_task(case) for case in BATCH_CASES]
    return tasks
