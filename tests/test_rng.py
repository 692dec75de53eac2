"""Philox4x32-10 and the Generator: published known answers, the stream
layout against an independent pure-Python Philox, draw/stream semantics,
and bit-identical output across thread counts and instruction sets in fresh
processes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convinit
from convinit import Generator, philox4x32_10

# Random123 tests/kat_vectors, rows "philox4x32 10": counter[4] key[2] -> out[4].
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]

MASK = 0xFFFFFFFF


def reference_philox(counter, key):
    """Philox4x32-10 from its definition (Salmon et al., SC'11), in Python ints."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return c0, c1, c2, c3


def reference_words(seed, stream, first_block, blocks):
    key = (seed & MASK, seed >> 32)
    words = []
    for b in range(first_block, first_block + blocks):
        words.extend(reference_philox((b & MASK, b >> 32, stream & MASK, stream >> 32), key))
    return np.array(words, dtype=np.uint32)


@pytest.mark.parametrize("counter, key, expected", KATS)
def test_known_answers(counter, key, expected):
    assert philox4x32_10(counter, key) == expected
    assert reference_philox(counter, key) == expected


def test_reports_a_simd_backend():
    assert convinit._core.simd_backend() in ("avx512", "avx2", "scalar")


@pytest.mark.parametrize("seed, stream", [(0, 0), (1, 0), (2**64 - 1, 2**64 - 1), (0x0123456789ABCDEF, 77)])
def test_raw_stream_layout(seed, stream):
    """random_raw(n): the words of blocks 0, 1, 2, ... of (key = seed lo/hi,
    counter = (block lo, block hi, stream lo, stream hi))."""
    got = Generator(seed, stream).random_raw(4 * 37 + 3)
    np.testing.assert_array_equal(got, reference_words(seed, stream, 0, 38)[: 4 * 37 + 3])


def test_block_index_carries_into_the_high_word():
    start_block = 2**32 - 3
    words = convinit._core.random_raw(9, 4, 4 * start_block, 4 * 6, 1)
    np.testing.assert_array_equal(words, reference_words(9, 4, start_block, 6))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), stream=st.integers(0, 2**64 - 2), n=st.integers(0, 50))
def test_generator_replays_and_advances(seed, stream, n):
    g = Generator(seed, stream)
    first, second = g.random_raw(n), g.random_raw(n)
    assert g.stream == stream + 2
    np.testing.assert_array_equal(first, Generator(seed, stream).random_raw(n))
    np.testing.assert_array_equal(second, Generator(seed, stream + 1).random_raw(n))


def test_draws_use_fresh_streams_and_seed_means_stream_zero():
    g = Generator(11)
    a = g.normal(size=1000)
    b = g.normal(size=1000)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, convinit.init.normal((1000,), seed=11))
    np.testing.assert_array_equal(b, convinit.init.normal((1000,), generator=Generator(11, 1)))


def test_state_checkpoints():
    g = Generator(2**63 + 5)
    g.uniform(size=3)
    state = g.state
    assert state == {"algorithm": "philox4x32_10", "seed": 2**63 + 5, "stream": 1}
    expected = g.trunc_normal(size=100)
    np.testing.assert_array_equal(Generator.from_state(state).trunc_normal(size=100), expected)
    with pytest.raises(ValueError, match="state"):
        Generator.from_state({"seed": 1})


def test_scalar_draws():
    assert isinstance(Generator(3).uniform(), np.floating)
    assert Generator(3).uniform(size=(2, 3)).shape == (2, 3)


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), (True, TypeError), ("1", TypeError)])
def test_bad_seeds(bad, error):
    with pytest.raises(error, match="seed"):
        Generator(bad)
    with pytest.raises(error, match="seed"):
        convinit.init.normal((3,), seed=bad)


def test_bad_streams_and_words():
    with pytest.raises(ValueError, match="stream"):
        Generator(0, -1)
    with pytest.raises(ValueError, match="stream"):
        Generator(0, 2**64)
    with pytest.raises(ValueError, match="counter"):
        philox4x32_10((0, 0, 0, 2**32), (0, 0))
    with pytest.raises(ValueError, match="counter, key"):
        philox4x32_10((0, 0, 0), (0, 0))
    with pytest.raises(ValueError, match="n"):
        Generator(0).random_raw(-1)


def test_streams_exhausted():
    g = Generator(0, 2**64 - 1)
    g.random_raw(1)
    with pytest.raises(OverflowError):
        g.random_raw(1)


FILLS_SCRIPT = """
import hashlib, numpy as np, convinit
from convinit import init
h = hashlib.sha256()
shape = (301, 257, 3)  # ~232k values: several parallel chunks, odd sizes
for dtype in ("float32", "float64"):
    for f, kw in [(init.uniform, dict(a=-0.5, b=2.0)), (init.normal, dict(mean=1.0, std=3.0)),
                  (init.trunc_normal, dict(std=0.5)), (init.trunc_normal, dict(mean=0.0, std=1.0, a=2.5, b=9.0)),
                  (init.kaiming_normal, dict(mode="fan_out")), (init.xavier_uniform, {})]:
        h.update(f(shape, seed=2024, dtype=dtype, **kw).tobytes())
h.update(convinit.Generator(7, 3).random_raw(100_003).tobytes())
print(convinit._core.simd_backend(), h.hexdigest())
"""


def run_fills(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", FILLS_SCRIPT], env=env, capture_output=True, text=True, check=True)
    backend, digest = out.stdout.split()
    return backend, digest


def test_bit_identical_across_thread_counts_in_fresh_processes():
    digests = {threads: run_fills({"RAYON_NUM_THREADS": str(threads)})[1] for threads in (1, 2, 3, 8)}
    assert len(set(digests.values())) == 1, digests


def test_bit_identical_across_instruction_sets_in_fresh_processes():
    results = {isa: run_fills({"CONVINIT_ISA": isa, "RAYON_NUM_THREADS": "2"}) for isa in ("scalar", "avx2", "avx512")}
    assert results["scalar"][0] == "scalar"
    assert len({digest for _, digest in results.values()}) == 1, results
