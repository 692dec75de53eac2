"""convinit.init against torch.nn.init (fans, gains, formulas, eye/dirac/
orthogonal/sparse semantics), scipy.stats (distribution tests) and float64
NumPy math (transforms of the raw Philox words); shard and layout
invariance; bad inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convinit
from convinit import Generator, init

RANDOM_PAIRS = ["uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                "kaiming_normal", "orthogonal", "sparse"]  # fmt: skip
EXTRA_ARGS = {"sparse": (0.3,)}

SHAPES = [(3, 4), (64, 32, 3, 3), (5, 1), (1, 5), (2, 3, 4), (7, 2, 1, 5, 2), (0, 4), (4, 0), (0, 0, 3),
          (3, 0, 2, 2), (10, 784), (32, 3136), (128, 64, 3, 3), (1, 1)]  # fmt: skip


# ---- fans and gains vs torch --------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.fans(shape) == expected
    assert init.fans(np.empty(shape)) == expected


@pytest.mark.parametrize("shape", [(), (5,), (0,)])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.fans(shape)


NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]  # fmt: skip


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3.5, -0.1])
def test_gains_match_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize("nonlinearity, param", [("softmax", None), ("ReLU", None), ("leaky_relu", True),
                                                 ("leaky_relu", "0.1"), ("leaky_relu", [0.1])])  # fmt: skip
def test_gain_errors_match_torch(nonlinearity, param):
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.calculate_gain(nonlinearity, param)
    with pytest.raises(ValueError) as ours:
        init.calculate_gain(nonlinearity, param)
    assert str(ours.value) == str(theirs.value)


# ---- formulas vs torch: capture the parameters torch passes to uniform_/normal_ ----


class Recorder:
    def __init__(self, monkeypatch):
        self.calls = []
        monkeypatch.setattr(torch.Tensor, "uniform_", self.make("uniform"))
        monkeypatch.setattr(torch.Tensor, "normal_", self.make("normal"))

    def make(self, kind):
        def record(tensor, a=0.0, b=1.0, generator=None):
            self.calls.append((kind, a, b))
            return tensor

        return record


FORMULA_CASES = [
    ("xavier_uniform", {}), ("xavier_uniform", {"gain": 2.5}), ("xavier_normal", {}), ("xavier_normal", {"gain": 0.3}),
    ("kaiming_uniform", {}), ("kaiming_uniform", {"a": math.sqrt(5)}), ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal", {}), ("kaiming_normal", {"mode": "FAN_OUT", "nonlinearity": "tanh"}), ("kaiming_normal", {"a": 0.2}),
    ("kaiming_normal", {"nonlinearity": "selu"}), ("uniform", {"a": -3.0, "b": 0.5}), ("normal", {"mean": 2.0, "std": 0.1}),
]  # fmt: skip


@pytest.mark.parametrize("name, kwargs", FORMULA_CASES)
@pytest.mark.parametrize("shape", [(64, 32, 3, 3), (10, 784), (7, 2, 1, 5, 2), (1, 1)])
def test_std_and_bounds_match_torch(monkeypatch, name, kwargs, shape):
    """torch's parameters, recorded from its uniform_/normal_ calls, give
    exactly our values: our fill equals the plain distribution with them."""
    recorder = Recorder(monkeypatch)
    getattr(torch.nn.init, name + "_")(torch.empty(shape), **kwargs)
    monkeypatch.undo()
    [(kind, p0, p1)] = recorder.calls
    ours = getattr(init, name)(shape, seed=42, **kwargs)
    plain = init.uniform(shape, p0, p1, seed=42) if kind == "uniform" else init.normal(shape, p0, p1, seed=42)
    np.testing.assert_array_equal(ours, plain)


def test_trunc_normal_bounds_are_absolute_like_torch():
    x = init.trunc_normal((100_000,), mean=0.0, std=10.0, seed=1)  # torch default a=-2, b=2
    assert x.min() >= -2.0 and x.max() <= 2.0
    x = init.trunc_normal((100_000,), mean=0.0, std=0.02, a=-0.04, b=0.04, seed=1, dtype="float64")
    assert x.min() >= -0.04 and x.max() <= 0.04


# ---- eye, dirac, constant, orthogonal, sparse vs torch ------------------------------


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (6, 2), (1, 1), (0, 3)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(init.eye(shape), torch.nn.init.eye_(torch.empty(shape)).numpy())


@pytest.mark.parametrize("shape, groups", [((4, 2, 3), 1), ((6, 6, 3, 3), 2), ((4, 3, 5, 4), 1), ((3, 2, 3, 3, 3), 1),
                                           ((6, 4, 2, 2, 2), 3), ((2, 5, 1), 2)])  # fmt: skip
def test_dirac_matches_torch(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(shape), groups=groups).numpy()
    np.testing.assert_array_equal(init.dirac(shape, groups), expected)
    out = np.full(shape, 7.0)
    assert init.dirac_(out, groups=groups) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fill, torch_fill, args", [("constant", "constant_", (0.25,)), ("zeros", "zeros_", ()),
                                                    ("ones", "ones_", ())])  # fmt: skip
def test_constants_match_torch(fill, torch_fill, args):
    expected = getattr(torch.nn.init, torch_fill)(torch.empty(3, 4, 2), *args).numpy()
    np.testing.assert_array_equal(getattr(init, fill)((3, 4, 2), *args), expected)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (8, 3, 2, 2), (1, 7), (7, 1)])
def test_orthogonal_is_torch_algorithm_on_our_normal_draw(shape):
    """torch's steps (QR, Q * sign(diag R), transpose when rows < cols) on
    the same standard-normal draw, in float64 torch."""
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = torch.from_numpy(init.normal((rows, cols), seed=5, dtype="float64"))
    if rows < cols:
        flat = flat.T
    q, r = torch.linalg.qr(flat)
    q = q * torch.diag(r, 0).sign()
    if rows < cols:
        q = q.T
    expected = (q * 1.5).reshape(shape).numpy()
    np.testing.assert_allclose(init.orthogonal(shape, 1.5, seed=5, dtype="float64"), expected, atol=1e-12)
    m = init.orthogonal(shape, seed=5, dtype="float64").reshape(rows, cols)
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


@pytest.mark.parametrize("shape, sparsity", [((10, 7), 0.3), ((5, 3), 0.0), ((4, 4), 1.0), ((9, 2), 0.5)])
def test_sparse_zeroes_ceil_sparsity_rows_per_column_like_torch(shape, sparsity):
    x = init.sparse(shape, sparsity, std=0.5, seed=8, dtype="float64")
    dense = init.normal(shape, 0.0, 0.5, seed=8, dtype="float64")
    zeros = math.ceil(sparsity * shape[0])
    assert ((x == 0).sum(axis=0) == zeros).all()
    kept = x != 0
    np.testing.assert_array_equal(x[kept], dense[kept])
    # torch zeroes the same number per column
    t = torch.nn.init.sparse_(torch.empty(shape), sparsity)
    assert ((t == 0).sum(dim=0) == zeros).all()


# ---- distribution tests vs scipy.stats ---------------------------------------------

DISTRIBUTIONS = [
    ("uniform", (-0.5, 2.0), scipy.stats.uniform(-0.5, 2.5)),
    ("normal", (1.0, 3.0), scipy.stats.norm(1.0, 3.0)),
    ("trunc_normal", (0.0, 1.0, -2.0, 2.0), scipy.stats.truncnorm(-2.0, 2.0)),
    ("trunc_normal", (0.1, 0.02, -2.0, 2.0), scipy.stats.truncnorm(-105.0, 95.0, 0.1, 0.02)),
    ("trunc_normal", (0.0, 1.0, 2.5, 9.0), scipy.stats.truncnorm(2.5, 9.0)),
    ("trunc_normal", (1.0, 1.0, -100.0, -1.5), scipy.stats.truncnorm(-101.0, -2.5, 1.0, 1.0)),
]
SEEDS = [0, 12345, 2**64 - 1]
DTYPES = ["float32", "float64"]
STAT_TESTS = ["ks", "chi2"]
N = 200_000
BINS = 100
# Family-wise false alarm <= 1e-6 over every test below (Bonferroni).
FAMILY_SIZE = len(DISTRIBUTIONS) * len(SEEDS) * len(DTYPES) * len(STAT_TESTS)
ALPHA = 1e-6 / FAMILY_SIZE


@pytest.mark.parametrize("kind, params, reference", DISTRIBUTIONS, ids=[f"{d[0]}{d[1]}" for d in DISTRIBUTIONS])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("test", STAT_TESTS)
def test_distribution_matches_scipy(kind, params, reference, seed, dtype, test):
    x = getattr(init, kind)((N,), *params, seed=seed, dtype=dtype).astype(np.float64)
    if test == "ks":
        p = scipy.stats.kstest(x, reference.cdf).pvalue
    else:
        edges = reference.ppf(np.linspace(0.0, 1.0, BINS + 1))
        counts = np.histogram(np.clip(x, edges[0], edges[-1]), bins=edges)[0]
        p = scipy.stats.chisquare(counts).pvalue
    assert p > ALPHA, f"{test} p = {p:.3g} <= alpha = {ALPHA:.3g} (Bonferroni over {FAMILY_SIZE} tests)"


# ---- transforms vs float64 NumPy math on the raw words ----------------------------


def raw_words(seed, n):
    return Generator(seed).random_raw(n).astype(np.uint64)


def fields24(words):
    """The 24-bit fields of each 256-word batch: top 24 bits of every word,
    then 80 fields from the low bytes of words 48g + l, 48g + 16 + l,
    48g + 32 + l (g < 5, l < 16)."""
    out = []
    for batch in words.reshape(-1, 256):
        low = batch & 0xFF
        extra = [low[48 * g + l] | low[48 * g + 16 + l] << 8 | low[48 * g + 32 + l] << 16 for g in range(5) for l in range(16)]
        out.append(np.concatenate([batch >> 8, np.array(extra, dtype=np.uint64)]))
    return np.concatenate(out)


def test_uniform_float32_is_a_24_bit_field():
    fields = fields24(raw_words(3, 256 * 40))
    u = fields.astype(np.float64) / 2**24
    expected = -1.0 + u * 3.0
    got = init.uniform((fields.size,), -1.0, 2.0, seed=3).astype(np.float64)
    assert np.all(np.abs(got - expected) <= np.spacing(np.float32(2.0)))
    assert fields.size == 336 * 40


def test_uniform_float64_is_53_bits_of_its_word_pair():
    w = raw_words(4, 20_000)
    x = w[0::2] | (w[1::2] << np.uint64(32))
    u = (x >> np.uint64(11)).astype(np.float64) / 2**53
    got = init.uniform((10_000,), -1.0, 2.0, seed=4, dtype="float64")
    np.testing.assert_allclose(got, -1.0 + 3.0 * u, rtol=0, atol=4.5e-16)


def test_normal_float32_is_box_muller_of_its_word_pair():
    """Per 32 values: pair j takes u1 from word j, theta from word 16 + j,
    and gives values j (r cos theta) and 16 + j (r sin theta)."""
    w = raw_words(5, 100_000).reshape(-1, 2, 16)
    k = (w[:, 0] >> np.uint64(1)).astype(np.float32).astype(np.float64)  # rounded to f32 by design
    u1 = (k / 2**31 + 2.0**-32).astype(np.float32).astype(np.float64)
    theta = 2 * np.pi * w[:, 1].astype(np.float64) / 2**32
    r = np.sqrt(-2 * np.log(u1))
    expected = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).ravel()
    got = init.normal((100_000,), seed=5).astype(np.float64)
    assert np.max(np.abs(got - expected) / np.maximum(1, np.abs(expected))) < 2e-6


def test_normal_float64_is_box_muller_of_its_block():
    w = raw_words(6, 4 * 50_000)
    pairs = w[0::2] | (w[1::2] << np.uint64(32))
    u1 = 1.0 - (pairs[0::2] >> np.uint64(11)).astype(np.float64) / 2**53
    theta = (pairs[1::2] >> np.uint64(11)).astype(np.float64) / 2**53 * 2 * np.pi
    r = np.sqrt(-2 * np.log(u1))
    expected = np.empty(100_000)
    expected[0::2], expected[1::2] = r * np.cos(theta), r * np.sin(theta)
    got = init.normal((100_000,), seed=6, dtype="float64")
    assert np.max(np.abs(got - expected) / np.maximum(1, np.abs(expected))) < 1e-13


def test_inverse_normal_cdf_accuracy_vs_scipy():
    """The quantile the truncated normal uses: float32 over the range it
    serves (min(p, 1-p) >= 1e-8), float64 down to p = 1e-300."""
    p32 = np.concatenate([np.logspace(-8, np.log10(0.5), 20_000), 1 - np.logspace(-7.5, np.log10(0.5), 20_000)])
    p32 = p32.astype(np.float32)
    got32 = convinit._core.ndtri(p32).astype(np.float64)
    ref32 = scipy.special.ndtri(p32.astype(np.float64))
    assert np.max(np.abs(got32 - ref32) / np.maximum(1, np.abs(ref32))) < 4e-6
    p64 = np.concatenate([np.logspace(-300, np.log10(0.5), 20_000), 1 - np.logspace(-15, np.log10(0.5), 20_000)])
    got64, ref64 = convinit._core.ndtri(p64), scipy.special.ndtri(p64)
    assert np.max(np.abs(got64 - ref64) / np.maximum(1, np.abs(ref64))) < 1e-12


# ---- shards and layouts -------------------------------------------------------------


def random_fill(name, shape, **kwargs):
    return getattr(init, name)(shape, *EXTRA_ARGS.get(name, ()), **kwargs)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(RANDOM_PAIRS),
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(0, 40), min_size=2, max_size=4).map(tuple),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**64 - 1),
)
def test_flat_range_is_exactly_a_slice_of_the_full_fill(name, dtype, shape, cut, seed):
    if name == "sparse":
        shape = shape[:2]
    assume(not name.startswith("xavier") or sum(init.fans(shape)) > 0)  # torch: ZeroDivisionError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = random_fill(name, shape, seed=seed, dtype=dtype)
        numel = full.size
        start, stop = sorted(int(c * numel) for c in cut)
        part = random_fill(name, shape, seed=seed, dtype=dtype, flat_range=(start, stop))
    assert part.dtype == full.dtype
    np.testing.assert_array_equal(part, full.ravel()[start:stop])


def test_a_shard_of_a_huge_tensor_needs_no_memory_for_the_rest():
    shape = (2**31, 2**31)
    middle = 2**61 + 12345
    a = init.normal(shape, seed=1, flat_range=(middle, middle + 1000))
    b = init.normal(shape, seed=1, flat_range=(middle - 7, middle + 10))
    np.testing.assert_array_equal(a[:10], b[7:])


def layouts(shape, dtype):
    c = np.zeros(shape, dtype)
    f = np.asfortranarray(np.zeros(shape, dtype))
    strided = np.zeros(tuple(2 * d for d in shape), dtype)[tuple(slice(None, None, 2) for _ in shape)]
    swapped = np.zeros(shape[::-1], dtype).T
    big_endian = np.zeros(shape, np.dtype(dtype).newbyteorder(">"))
    return [c, f, strided, swapped, big_endian]


@pytest.mark.parametrize("name", RANDOM_PAIRS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_fills_equal_the_allocating_fill_for_any_layout(name, dtype):
    shape = (6, 5) if name == "sparse" else (6, 5, 3)
    expected = random_fill(name, shape, seed=77, dtype=dtype)
    for target in layouts(shape, dtype):
        out = getattr(init, name + "_")(target, *EXTRA_ARGS.get(name, ()), seed=77)
        assert out is target
        np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("name", RANDOM_PAIRS)
def test_in_place_on_torch_tensors(name):
    shape = (6, 5) if name == "sparse" else (6, 5, 3)
    leaf = torch.empty(shape, requires_grad=True)
    reversed_dims = list(range(len(shape)))[::-1]
    transposed = torch.empty(shape[::-1], dtype=torch.float64).permute(*reversed_dims)
    for tensor in (torch.empty(shape), leaf, transposed):
        out = getattr(init, name + "_")(tensor, *EXTRA_ARGS.get(name, ()), seed=9)
        assert out is tensor
        dtype = str(tensor.dtype).replace("torch.", "")
        np.testing.assert_array_equal(tensor.detach().numpy(), random_fill(name, shape, seed=9, dtype=dtype))
    assert leaf.requires_grad and leaf.is_leaf and leaf.grad_fn is None
    version = leaf._version
    init.normal_(leaf, seed=0)
    assert leaf._version > version  # autograd sees the in-place write, as with torch.nn.init


def test_generator_draws_in_place_like_allocating():
    g1, g2 = Generator(3), Generator(3)
    t = torch.empty(40, 30)
    init.xavier_normal_(t, generator=g1)
    init.kaiming_uniform_(t, generator=g1)
    init.xavier_normal((40, 30), generator=g2)
    np.testing.assert_array_equal(t.numpy(), init.kaiming_uniform((40, 30), generator=g2))


def test_zero_element_tensors_are_no_ops():
    for shape in [(0, 3), (4, 0, 2)]:
        np.testing.assert_array_equal(init.normal(shape, seed=0), np.zeros(shape, np.float32))
        with pytest.warns(UserWarning, match="zero-element"):
            assert init.kaiming_normal(shape, seed=0).shape == shape
        assert init.uniform_(np.empty(shape), seed=0).shape == shape


# ---- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: init.normal((3,), std=-1.0, seed=0), ValueError, "std"),
        (lambda: init.trunc_normal((3,), std=-0.5, seed=0), ValueError, "std"),
        (lambda: init.sparse((3, 3), 0.1, std=-1.0, seed=0), ValueError, "std"),
        (lambda: init.uniform((3,), 2.0, 1.0, seed=0), ValueError, "a"),
        (lambda: init.trunc_normal((3,), a=1.0, b=-1.0, seed=0), ValueError, "a"),
        (lambda: init.uniform((3,), float("nan"), 1.0, seed=0), ValueError, "a"),
        (lambda: init.kaiming_normal((3, 4), mode="fan_avg", seed=0), ValueError, "Mode fan_avg not supported"),
        (lambda: init.kaiming_uniform((3, 4), nonlinearity="gelu", seed=0), ValueError, "Unsupported nonlinearity gelu"),
        (lambda: init.xavier_uniform((3,), seed=0), ValueError, "fewer than 2 dimensions"),
        (lambda: init.kaiming_normal((5,), seed=0), ValueError, "fewer than 2 dimensions"),
        (lambda: init.orthogonal((5,), seed=0), ValueError, "2 or more dimensions"),
        (lambda: init.eye((2, 2, 2)), ValueError, "2 dimensions"),
        (lambda: init.dirac((2, 2)), ValueError, "3, 4, or 5 dimensions"),
        (lambda: init.dirac((3, 2, 3), groups=2), ValueError, "divisible by groups"),
        (lambda: init.sparse((3, 3, 3), 0.1, seed=0), ValueError, "2 dimensions"),
        (lambda: init.sparse((3, 3), 1.5, seed=0), ValueError, "sparsity"),
        (lambda: init.normal((3, -1), seed=0), ValueError, "shape"),
        (lambda: init.normal((3, 4), seed=0, flat_range=(5, 13)), ValueError, "flat_range"),
        (lambda: init.normal((3, 4), seed=0, flat_range=(-1, 3)), ValueError, "flat_range"),
        (lambda: init.normal((3, 4), seed=0, flat_range=(6, 5)), ValueError, "flat_range"),
        (lambda: init.normal((3, 4), seed=0, flat_range=5), TypeError, "flat_range"),
        (lambda: init.normal((3, 4), seed=0, dtype="float8"), TypeError, "dtype"),
        (lambda: init.normal((3, 4), seed=0, dtype="int32"), TypeError, "dtype"),
        (lambda: init.normal((3, 4), seed=1, generator=Generator(1)), ValueError, "seed, generator"),
        (lambda: init.normal((3, 4), generator=np.random.default_rng(0)), TypeError, "generator"),
        (lambda: init.normal((3, 4), mean="0", seed=0), TypeError, "mean"),
        (lambda: init.normal_(np.zeros((3, 4), np.int64), seed=0), TypeError, "tensor"),
        (lambda: init.normal_(np.zeros((3, 4), np.longdouble), seed=0), TypeError, "tensor"),
        (lambda: init.normal_(torch.zeros(3, 4, dtype=torch.int32), seed=0), TypeError, "dtype"),
        (lambda: init.normal_(torch.zeros(3, 4, dtype=torch.complex64), seed=0), TypeError, "dtype"),
        (lambda: init.normal_([[0.0, 1.0]], seed=0), TypeError, "tensor"),
        (lambda: init.trunc_normal((3,), mean=0.0, std=1.0, a=-40.0, b=-39.0, seed=0), ValueError, "tail"),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_read_only_targets_are_refused():
    x = np.zeros((3, 4))
    x.flags.writeable = False
    for fill in (init.normal_, init.zeros_, init.orthogonal_):
        with pytest.raises(ValueError, match="read-only"):
            fill(x)


def test_too_large_fills_raise_memory_error_before_allocating():
    with pytest.raises(MemoryError):
        init.normal((2**40, 2**20), seed=0)
    with pytest.raises(MemoryError):
        init.eye((2**30, 2**30))
    with pytest.raises(MemoryError):
        Generator(0).random_raw(2**62)
