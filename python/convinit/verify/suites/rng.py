"""rng: Philox4x32-10 known answers (Random123), the Generator's stream layout
(DESIGN.md), raw-word statistics, independence of streams, seeds and
successive fills, and fills that do not depend on threads or sharding."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import processes, reference, stats
from ..backends import DEFAULT_PARAMS, RANDOM_FILLS, accepts
from ..context import Budget, Context
from ..records import Check, Task, equal_check, skip_check, stat_check
from . import register
from .common import as_array, bit_mismatches, case_seed, thread_variants

KAT_SOURCE = "Random123 tests/kat_vectors"
# philox4x32 10: counter (4 words), key (2 words) -> output (4 words)
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
LAYOUT_STREAMS = [(0, 0), (0x0123456789ABCDEF, 5), (7, 2 ** 32 + 3)]
STREAM_PAIRS = [("stream 0 vs stream 1", (0, 0), (0, 1)),
                ("seed vs seed+1", (0, 0), (1, 0)),
                ("seed vs seed+2^32 (high key word)", (0, 0), (2 ** 32, 0)),
                ("stream 0 vs stream 2^32 (high counter word)", (0, 0), (0, 2 ** 32))]
WORD_SCALE = 2.0 ** -32
INDEPENDENCE_FILLS = tuple(f for f in RANDOM_FILLS if f != "sparse")   # sparse's zeros repeat by design
GENERATOR_FILLS = ("normal", "uniform", "kaiming_normal")


def _hex(words: Any) -> str:
    return " ".join(f"{int(w):08x}" for w in np.asarray(words).ravel())


def kat_task(counter: tuple, key: tuple, want: tuple) -> Task:
    name = f"philox4x32_10(ctr {_hex(counter)}, key {_hex(key)})"

    def run(ctx: Context) -> list[Check]:
        got = np.asarray(ctx.backend.get("philox4x32_10")(counter, key), np.uint64).ravel()
        bad = 4 if got.size != 4 else int(np.sum(got != np.asarray(want, np.uint64)))
        return [equal_check(name, KAT_SOURCE, bad, f"got {_hex(got)}, expected {_hex(want)}", metric="words wrong")]

    return Task("rng", name, ("philox4x32_10",), run)


def layout_task() -> Task:
    """Words in counter order: block i = Philox(ctr = (i lo, i hi, stream lo, stream hi), key = seed)."""
    def run(ctx: Context) -> list[Check]:
        generator = ctx.backend.get("Generator")
        label = "Philox4x32-10 stream layout (DESIGN.md), NumPy"
        got = np.asarray(generator(0, 0).random_raw(4))
        checks = [equal_check("Generator(0, 0).random_raw(4) = KAT", KAT_SOURCE,
                              int(np.sum(got.astype(np.uint64) != np.asarray(KATS[0][2], np.uint64))),
                              f"got {_hex(got)}", metric="words wrong")]
        for seed, stream in LAYOUT_STREAMS:
            got = np.asarray(generator(seed, stream).random_raw(1000))
            want = reference.philox_words(seed, stream, 0, 1000)
            checks.append(equal_check(f"Generator({seed:#x}, {stream:#x}).random_raw(1000)", label,
                                      bit_mismatches(got.astype(np.uint32), want), metric="words wrong"))
        # Whether a second call continues the stream or takes a fresh one is the
        # backend's choice; repeating words is never right.
        g = generator(*LAYOUT_STREAMS[1])
        first, second = (np.asarray(g.random_raw(1000), np.uint32) for _ in range(2))
        checks.append(equal_check("two successive random_raw(1000) calls repeat no words", "independent draws",
                                  stats.shared_windows(first, second), metric="shared runs"))
        checks.append(checkpoint_check(generator))
        return checks

    return Task("rng", "Generator stream layout", ("Generator",), run)


def checkpoint_check(generator: Any) -> Check:
    name = "Generator.from_state(g.state) resumes the stream"
    if not (hasattr(generator, "from_state") and hasattr(generator(1, 2), "state")):
        return skip_check(name, "Generator has no state / from_state")
    g = generator(3, 4)
    g.random_raw(7)
    state = g.state
    want = np.asarray(g.random_raw(100))
    return equal_check(name, "the same Generator continued", bit_mismatches(
        np.asarray(generator.from_state(state).random_raw(100)), want), metric="words wrong")


def word_stats_task() -> Task:
    def run(ctx: Context) -> list[Check]:
        seed = case_seed(ctx.seed, "raw words")
        words = np.asarray(ctx.backend.get("Generator")(seed, 0).random_raw(ctx.budget.rng_words), np.uint32)
        return [stat_check(f"Generator({seed}).random_raw: {r.test}", "uniform 32-bit words", r)
                for r in (stats.bit_frequency_test(words, ctx.alpha), stats.top_byte_test(words, ctx.alpha))]

    return Task("rng", "raw word statistics", ("Generator",), run, tests=2)


def independence_checks(name: str, a: np.ndarray, b: np.ndarray, alpha: float, reference_text: str,
                        words: bool = False) -> list[Check]:
    shared = stats.shared_windows(a, b)
    checks = [equal_check(f"{name}: no shared runs of 3 values", reference_text, shared,
                          "chance coincidence < 1e-9", metric="shared runs")]
    scale = WORD_SCALE if words else 1.0
    results = [stats.correlation_test(a * scale, b * scale, alpha)]
    if words:
        results.append(stats.xor_popcount_test(a, b, alpha))
    checks += [stat_check(f"{name}: {r.test}", reference_text, r, r.estimate) for r in results]
    return checks


def stream_pair_task(label: str, first: tuple[int, int], second: tuple[int, int]) -> Task:
    def run(ctx: Context) -> list[Check]:
        generator, base = ctx.backend.get("Generator"), case_seed(ctx.seed, "streams")
        a, b = (np.asarray(generator(base + s, t).random_raw(ctx.budget.rng_words), np.uint32)
                for s, t in (first, second))
        return independence_checks(f"Generator {label}", a, b, ctx.alpha, "independent streams", words=True)

    return Task("rng", f"Generator {label}", ("Generator",), run, tests=2)


def fill_shape(budget: Budget) -> tuple[int, int]:
    return (budget.rng_words // 256, 256)


def seed_task(fill: str) -> Task:
    params = DEFAULT_PARAMS.get(fill, {})

    def run(ctx: Context) -> list[Check]:
        fn, shape, seed = ctx.backend.get(fill), fill_shape(ctx.budget), case_seed(ctx.seed, fill)
        a, b, c = (as_array(fn(shape, **params, seed=s)) for s in (seed, seed + 1, seed + 2 ** 32))
        checks = independence_checks(f"{fill} seeds {seed} vs {seed + 1}", a, b, ctx.alpha, "independent seeds")
        checks.append(equal_check(f"{fill} seeds {seed} vs {seed + 2 ** 32}: no shared runs of 3 values",
                                  "independent seeds", stats.shared_windows(a, c), "chance coincidence < 1e-9",
                                  metric="shared runs"))
        return checks

    return Task("rng", f"{fill} seed independence", (fill,), run, tests=1)


def generator_fills_task(fill: str) -> Task:
    """DESIGN.md: each fill takes a fresh stream, so two fills from one Generator never overlap."""
    params = DEFAULT_PARAMS.get(fill, {})
    name = f"two {fill} fills from one Generator"

    def run(ctx: Context) -> list[Check]:
        fn = ctx.backend.get(fill)
        if not accepts(fn, "generator"):
            return [skip_check(name, f"{fill} has no generator= parameter")]
        g = ctx.backend.get("Generator")(case_seed(ctx.seed, name))
        shape = fill_shape(ctx.budget)
        a, b = as_array(fn(shape, **params, generator=g)), as_array(fn(shape, **params, generator=g))
        return independence_checks(name, a, b, ctx.alpha, "fresh stream per fill")

    return Task("rng", name, (fill, "Generator"), run, tests=1)


def thread_task(fill: str) -> Task:
    params = DEFAULT_PARAMS.get(fill, {})
    shape = (128, 128)
    name = f"{fill}{shape} bit-identical across threads"

    def run(ctx: Context) -> list[Check]:
        seed = case_seed(ctx.seed, name)

        def call(fn, key, **extra):
            return as_array(fn(shape, **params, seed=seed + key, **extra))

        mismatches, notes = thread_variants(ctx.backend.get(fill), call, [0, 1, 2, 3])
        return [equal_check(name, "same call, one thread", mismatches, "; ".join(notes),
                            metric="differing elements")]

    return Task("rng", name, (fill,), run)


def shard_task(fill: str) -> Task:
    """DESIGN.md: ``flat_range=(start, stop)`` returns exactly ``full.ravel()[start:stop]``."""
    params = DEFAULT_PARAMS.get(fill, {})
    shape = (100, 30, 7) if fill != "sparse" else (100, 210)
    name = f"{fill}{shape} shards equal the full fill"

    def run(ctx: Context) -> list[Check]:
        fn = ctx.backend.get(fill)
        if not accepts(fn, "flat_range"):
            return [skip_check(name, f"{fill} has no flat_range= parameter")]
        seed = case_seed(ctx.seed, name)
        full = as_array(fn(shape, **params, seed=seed)).ravel()
        n = full.size
        ranges = [(0, n), (0, 1), (1, 1000), (n // 3, n // 2 + 7), (n - 5, n), (n - 1, n)]
        bad = sum(bit_mismatches(as_array(fn(shape, **params, seed=seed, flat_range=r)), full[r[0]:r[1]])
                  for r in ranges)
        return [equal_check(name, "full fill, sliced", bad, f"ranges {ranges}", metric="differing elements")]

    return Task("rng", name, (fill,), run)


def process_task() -> Task:
    name = "fills and conv2d bit-identical in processes with 1, 2, 3 threads"

    def run(ctx: Context) -> list[Check]:
        if ctx.spec is None:
            return [skip_check(name, "this backend cannot be loaded in a child process")]
        seed = case_seed(ctx.seed, name)
        here = processes.digests(ctx.backend, seed)
        differing = [f"{fn} with {t} threads" for t in (1, 2, 3)
                     for fn, d in processes.child_digests(ctx.spec, seed, t).items() if here.get(fn) != d]
        return [equal_check(name, "same calls in this process", len(differing),
                            "; ".join(differing) or f"{', '.join(here)}: identical", metric="differing results")]

    return Task("rng", name, (), run, any_of=processes.FUNCTIONS)


# PyTorch's CPU stream from seed 0, recorded from torch 2.15.0 by
# tests/data/make_torch_golden.py: (fill, params, dtype, size, SHA-256 of
# the values, SHA-256 of the generator state after the call). Sizes 15 and
# 17 take torch's scalar normal path / a 53-bit uniform, 1000 the vectorized one.
TORCH_STREAM_SOURCE = "torch 2.15.0 (recorded)"
TORCH_STREAM_KATS = [
    ("uniform", (-0.5, 1.25), "float32", 1000,
     "7168fcccf5d401cf4dfb093be981dfff3b996f5e41f523fbb7f2ce9cd0e28bb1",
     "dea7848bfc17ded0c06270612ec4c417ae53fe6499db6b6af8f8987684abff0d"),
    ("normal", (0.25, 1.5), "float32", 1000,
     "c27828082e9661bc0eb889031d93af9e5a91d3b12f2aa02260491e90a0ffd04c",
     "273793bcfaa88baa70a44921437fa2e43de5b065e0229b54d050be0f2209dbab"),
    ("normal", (0.25, 1.5), "float64", 15,
     "18ce7ceb755e02c637c4d1685584279a50ca9ec411a0af57ab33ddc942212199",
     "b52d8700171bcbb4101f05daf701afa8bb7df3b877d473614ab0d3c862f84faa"),
    ("uniform", (-0.5, 1.25), "float64", 17,
     "08feb3319b13bc2a0d7e6c1aa298ae58929372656e78589ef9553c78d6645227",
     "7c4d2820ff1ba49702b1d91b4116725cf4f6f2291e0b635b7a1defb3d2ca7a91"),
]


def _sha256(values: Any) -> str:
    import hashlib

    array = values.numpy() if hasattr(values, "numpy") else np.asarray(values)
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _optional_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_stream_task() -> Task:
    """The backend's TorchGenerator(0) through its fills gives PyTorch's
    values and generator state: against the recorded stream of the pinned
    torch, and live against the installed torch (whose own drift from the
    pinned stream is reported as a torch change, not a backend bug)."""
    def draw(make: Any, fill: Any, params: tuple, dtype: str, size: int) -> tuple[str, str]:
        generator = make(0)
        values = fill((size,), *params, generator=generator, dtype=dtype)
        return _sha256(values), _sha256(generator.get_state())

    def run(ctx: Context) -> list[Check]:
        make = ctx.backend.get("TorchGenerator")
        checks = []
        torch = _optional_torch()
        for fill, params, dtype, size, values, state in TORCH_STREAM_KATS:
            name = f"TorchGenerator(0) {fill}{params} {dtype} x{size}"
            got = draw(make, ctx.backend.get(fill), params, dtype, size)
            checks.append(equal_check(name, TORCH_STREAM_SOURCE, int(got[0] != values) + int(got[1] != state),
                                      metric="digests wrong (values, state)"))
            if torch is None:
                checks.append(skip_check(f"{name} vs the installed torch", "torch is not installed"))
                continue
            target = torch.empty(size, dtype=getattr(torch, dtype))
            generator = torch.Generator().manual_seed(0)
            getattr(torch.nn.init, fill + "_")(target, *params, generator=generator)
            live = (_sha256(target), _sha256(generator.get_state()))
            if live != (values, state):
                checks.append(skip_check(f"{name} vs torch {torch.__version__}", f"torch {torch.__version__} draws a "
                                         "different stream from the pinned 2.15.0: a torch change, not a backend bug"))
                continue
            checks.append(equal_check(f"{name} vs torch {torch.__version__}", f"torch {torch.__version__} (live)",
                                      int(got[0] != live[0]) + int(got[1] != live[1]),
                                      metric="digests wrong (values, state)"))
        return checks

    return Task("rng", "PyTorch CPU stream (TorchGenerator)", ("TorchGenerator", "uniform", "normal"), run)


@register("rng", "Philox KATs, stream/seed independence, thread and shard invariance")
def plan(budget: Budget, seed: int) -> list[Task]:
    tasks = [kat_task(*kat) for kat in KATS]
    tasks += [layout_task(), word_stats_task()]
    tasks += [stream_pair_task(*pair) for pair in STREAM_PAIRS]
    tasks += [seed_task(fill) for fill in INDEPENDENCE_FILLS]
    tasks += [generator_fills_task(fill) for fill in GENERATOR_FILLS]
    tasks += [thread_task(fill) for fill in RANDOM_FILLS] + [process_task()]
    tasks += [shard_task(fill) for fill in RANDOM_FILLS]
    tasks += [torch_stream_task()]
    return tasks
