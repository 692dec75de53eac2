"""convinit.TorchGenerator: PyTorch's CPU stream bit for bit, checked
against golden vectors recorded from the pinned torch (no torch needed) and
live against the installed torch."""

from __future__ import annotations

import json
import math
import pathlib
import pickle
import warnings

import numpy as np
import pytest

import convinit
from convinit import TorchGenerator, init
from convinit.torchgen import PINNED_TORCH_VERSIONS, iteration_axes
from torchgen_cases import case_id, cases, digest, empty

GOLDEN = json.loads((pathlib.Path(__file__).parent / "data" / "torch_golden.json").read_text())
GOLDEN_BY_ID = {c["id"]: c for c in GOLDEN["cases"]}
CASES = cases()


def _convinit_fill(case, generator):
    target = empty(case, lambda shape: np.empty(shape, dtype=case["dtype"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(init, case["fill"])(target, *case["args"], **case["kwargs"], generator=generator)
    return target


def test_golden_vectors_were_recorded_from_a_pinned_torch():
    assert GOLDEN["torch_version"] in PINNED_TORCH_VERSIONS
    assert len(GOLDEN["cases"]) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_golden_values_and_state(case):
    expected = GOLDEN_BY_ID[case_id(case)]
    generator = TorchGenerator(case["seed"])
    values = _convinit_fill(case, generator)
    assert [float(v).hex() for v in np.ascontiguousarray(values).ravel()[:4]] == expected["head"]
    assert digest(values) == expected["values_sha256"]
    assert digest(generator.get_state()) == expected["state_sha256"]


# ---- live against the installed torch ----------------------------------------

torch = pytest.importorskip("torch")
TORCH_VERSION = torch.__version__.split("+")[0]


def _assert_same_as_torch(ours, theirs, what):
    if np.array_equal(ours, theirs, equal_nan=True):
        return
    if TORCH_VERSION not in PINNED_TORCH_VERSIONS:
        pytest.fail(f"torch {TORCH_VERSION} draws a different stream for {what} than the pinned torch "
                    f"{', '.join(PINNED_TORCH_VERSIONS)} that convinit reproduces (the golden vectors still pass): "
                    "a torch change, not a convinit bug")
    mismatched = int(np.sum(np.asarray(ours) != np.asarray(theirs)))
    pytest.fail(f"{what}: {mismatched} of {np.size(ours)} values differ from torch {TORCH_VERSION}")


LIVE_TARGETS = {
    "contiguous": lambda t, shape: t(shape),
    "strided": lambda t, shape: t(shape[:-1] + (2 * shape[-1],))[..., ::2],
    "transposed": lambda t, shape: t(shape[::-1]).T if isinstance(t((1,)), np.ndarray) else t(shape[::-1]).mT,
}


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**63, 2**64 - 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, layout", [
    *[((n,), layout) for n in (1, 15, 16, 17, 1000) for layout in ("contiguous", "strided")],
    ((10**6,), "contiguous"),
    *[(shape, layout) for shape in ((7, 33), (40, 25)) for layout in ("contiguous", "strided", "transposed")],
])
@pytest.mark.parametrize("fill, args", [("uniform_", (-2.0, 3.0)), ("normal_", (0.5, 2.0))])
def test_live_uniform_and_normal(seed, dtype, shape, layout, fill, args):
    tdtype = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(seed)
    gen.manual_seed(seed)
    torch.empty(1, dtype=torch.float64).normal_(generator=gen)  # leaves a cached normal value
    state = gen.get_state()
    expected = LIVE_TARGETS[layout](lambda s: torch.empty(s, dtype=tdtype), shape)
    getattr(torch.nn.init, fill)(expected, *args, generator=gen)

    ours = TorchGenerator().set_state(state)
    target = LIVE_TARGETS[layout](lambda s: np.empty(s, dtype=dtype), shape)
    getattr(init, fill)(target, *args, generator=ours)
    _assert_same_as_torch(target, expected.numpy(), f"{fill} {dtype} {shape} {layout}")
    _assert_same_as_torch(ours.get_state(), gen.get_state().numpy(), "the generator state")

    # A real torch.Generator, on a torch tensor: read, advanced, written back.
    theirs = torch.Generator().set_state(state)
    tensor = LIVE_TARGETS[layout](lambda s: torch.empty(s, dtype=tdtype), shape)
    getattr(init, fill)(tensor, *args, generator=theirs)
    assert torch.equal(tensor, expected)
    assert torch.equal(theirs.get_state(), gen.get_state())


@pytest.mark.parametrize("seed", [0, 2**63])
@pytest.mark.parametrize("make", [
    lambda t: t.empty(2, 3, 4, 5).to(memory_format=t.channels_last),
    lambda t: t.empty(2, 3, 4, 6).to(memory_format=t.channels_last)[..., ::2],
    lambda t: t.empty(2, 3, 4, 5, 2).to(memory_format=t.channels_last_3d)[:, 1:],
    lambda t: t.empty(3, 4, 5).permute(2, 0, 1),
    lambda t: t.empty(6, 1, 8)[:, :, 1::3],
], ids=["channels_last", "channels_last_sliced", "channels_last_3d_sliced", "permuted", "size1_sliced"])
@pytest.mark.parametrize("fill, args", [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()),
                                        ("trunc_normal_", (0.0, 1.0, -0.3, 0.2)), ("xavier_normal_", ())])
def test_live_layouts_follow_tensor_iterator(seed, make, fill, args):
    gen = torch.Generator().manual_seed(seed)
    expected = make(torch)
    getattr(torch.nn.init, fill)(expected, *args, generator=gen)
    target = make(torch).numpy()
    ours = TorchGenerator(seed)
    getattr(init, fill)(target, *args, generator=ours)
    _assert_same_as_torch(target, expected.numpy(), f"{fill} on strides {expected.stride()}")
    _assert_same_as_torch(ours.get_state(), gen.get_state().numpy(), "the generator state")


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**63])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fill, kwargs", [
    ("kaiming_uniform_", {"a": math.sqrt(5)}), ("kaiming_normal_", {"nonlinearity": "leaky_relu", "a": 0.2}),
    ("xavier_uniform_", {}), ("xavier_normal_", {"gain": 0.5}), ("trunc_normal_", {"std": 0.02}),
    ("trunc_normal_", {"mean": 1.0, "std": 0.5, "a": 0.9, "b": 1.0}), ("uniform_", {}), ("normal_", {}),
])
def test_live_weight_initializers_allocating_form(seed, dtype, fill, kwargs):
    for shape in [(1, 1), (5, 3), (4, 4), (17, 3), (128, 64, 3, 3)]:
        gen = torch.Generator().manual_seed(seed)
        expected = torch.empty(shape, dtype=getattr(torch, dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(torch.nn.init, fill)(expected, **kwargs, generator=gen)
            ours = TorchGenerator(seed)
            values = getattr(init, fill.rstrip("_"))(shape, **kwargs, generator=ours, dtype=dtype)
        _assert_same_as_torch(values, expected.numpy(), f"{fill} {shape}")
        _assert_same_as_torch(ours.get_state(), gen.get_state().numpy(), "the generator state")


def test_flat_range_with_a_torch_generator_is_the_slice_and_advances_fully():
    full = init.normal((50, 7), generator=TorchGenerator(3))
    g = TorchGenerator(3)
    part = init.normal((50, 7), generator=g, flat_range=(10, 40))
    np.testing.assert_array_equal(part, full.ravel()[10:40])
    h = TorchGenerator(3)
    init.normal((50, 7), generator=h)
    assert np.array_equal(g.get_state(), h.get_state())


# ---- the generator itself ----------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 5489, 2**32 + 5, 2**63, 2**64 - 1, -1, -(2**63)])
def test_seeded_state_is_torchs(seed):
    gen = torch.Generator().manual_seed(seed)
    ours = TorchGenerator(seed)
    assert np.array_equal(ours.get_state(), gen.get_state().numpy())
    assert ours.initial_seed() == gen.initial_seed()


def test_default_seed_is_torchs():
    assert np.array_equal(TorchGenerator().get_state(), torch.Generator().get_state().numpy())


def test_state_round_trips_through_torch():
    ours = TorchGenerator(7)
    init.normal((3,), generator=ours)  # leaves a cached normal value in the state
    gen = torch.Generator().set_state(torch.from_numpy(ours.get_state()))
    expected = torch.empty(5, dtype=torch.float64).normal_(generator=gen)
    values = init.normal((5,), generator=ours, dtype="float64")
    np.testing.assert_array_equal(values, expected.numpy())


def test_mt19937_known_answers():
    # std::mt19937 with its default seed 5489: first outputs and the 10000th (C++ [rand.predef]).
    g = TorchGenerator(5489)
    assert [g.random() for _ in range(3)] == [3499211612, 581869302, 3890346734]
    g = TorchGenerator(5489)
    assert int(g.random(10000)[-1]) == 4123659995


def test_random64_is_two_words_high_first():
    words = TorchGenerator(9).random(4)
    pairs = TorchGenerator(9).random64(2)
    assert [int(p) for p in pairs] == [(int(words[0]) << 32) | int(words[1]), (int(words[2]) << 32) | int(words[3])]


def test_random_words_are_torchs():
    # random_(0, 2**24) takes random() % 2**24: the low 24 bits of each word.
    gen = torch.Generator().manual_seed(11)
    expected = torch.empty(2000, dtype=torch.int64).random_(0, 2**24, generator=gen).numpy()
    ours = TorchGenerator(11)
    np.testing.assert_array_equal(ours.random(2000).astype(np.int64) & (2**24 - 1), expected)
    assert np.array_equal(ours.get_state(), gen.get_state().numpy())


def test_pickle_keeps_the_stream():
    g = TorchGenerator(4)
    g.random(700)
    twin = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(twin.random(10), g.random(10))


def test_exported_from_the_package():
    assert convinit.TorchGenerator is TorchGenerator


# ---- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("seed, error", [(2**64, ValueError), (-(2**63) - 1, ValueError), (1.5, TypeError),
                                         ("1", TypeError)])
def test_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        TorchGenerator(seed)


def test_bad_states():
    good = TorchGenerator(1).get_state()
    with pytest.raises(ValueError, match="size 5056"):
        TorchGenerator().set_state(good[:-1])
    bad = good.copy()
    bad[8:12] = np.frombuffer(np.int32(0).tobytes(), np.uint8)  # left = 0
    with pytest.raises(ValueError, match="Invalid mt19937 state"):
        TorchGenerator().set_state(bad)
    bad = good.copy()
    bad[12:16] = 0  # not seeded
    with pytest.raises(ValueError, match="Invalid mt19937 state"):
        TorchGenerator().set_state(bad)
    with pytest.raises(TypeError, match="state"):
        TorchGenerator().set_state(good.astype(np.int16))
    with pytest.raises(TypeError, match="state"):
        TorchGenerator().set_state([1, 2, 3])


def test_bad_fill_arguments():
    g = TorchGenerator(0)
    before = g.get_state()
    with pytest.raises(ValueError, match="from"):
        init.uniform((3,), 2.0, 1.0, generator=g)
    with pytest.raises(ValueError, match="std"):
        init.normal((3,), 0.0, -1.0, generator=g)
    with pytest.raises(ValueError, match="seed, generator"):
        init.normal((3,), seed=1, generator=g)
    with pytest.raises(TypeError, match="generator: orthogonal"):
        init.orthogonal((3, 3), generator=g)
    assert np.array_equal(g.get_state(), before)


def test_iteration_axes_of_dense_and_sliced_strides():
    assert iteration_axes((3, 4), (4, 1)) == [0, 1]
    assert iteration_axes((3, 4), (1, 3)) == [1, 0]
    assert iteration_axes((2, 3, 4, 5), (60, 1, 15, 3)) == [0, 2, 3, 1]
