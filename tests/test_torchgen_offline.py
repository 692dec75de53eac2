"""convinit.TorchGenerator without torch: golden vectors recorded from the
pinned torch (tests/data/make_torch_golden.py), known answers, bad input.
The live comparisons with the installed torch are in test_torchgen.py."""

from __future__ import annotations

import json
import pathlib
import pickle
import warnings

import numpy as np
import pytest

import convinit
from convinit import TorchGenerator, init
from convinit.torchgen import PINNED_TORCH_VERSIONS, iteration_axes
from convinit.torch_scheme import torch_parameters
from torchgen_cases import MODEL_ENTRIES, MODEL_SEEDS, case_id, cases, digest, empty

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


@pytest.mark.parametrize("model", sorted(MODEL_ENTRIES))
@pytest.mark.parametrize("seed", MODEL_SEEDS)
def test_golden_models_from_numpy_only_entries(model, seed):
    expected = next(m for m in GOLDEN["models"] if m["id"] == f"{model}-seed{seed}")
    generator = TorchGenerator(seed)
    values = torch_parameters(MODEL_ENTRIES[model], generator=generator)
    assert {name: digest(v) for name, v in values.items()} == expected["values_sha256"]
    assert digest(generator.get_state()) == expected["state_sha256"]


def test_numpy_only_entries_bad_input():
    with pytest.raises(ValueError, match="needs a 'weight' entry"):
        torch_parameters([("b", (3,), "bias")], seed=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        torch_parameters([("w", (3, 3), "kaiming")], seed=0)
    with pytest.raises(ValueError, match="hidden size"):
        torch_parameters([("w", (3, 3), "rnn")], seed=0)
    with pytest.raises(ValueError, match="appears twice"):
        torch_parameters([("w", (3, 3), "weight"), ("w", (3, 3), "weight")], seed=0)
    with pytest.raises(ValueError, match="seed, generator"):
        torch_parameters([], seed=0, generator=TorchGenerator())
    with pytest.raises(TypeError, match="generator"):
        torch_parameters([], generator=convinit.Generator(0))


# ---- the generator itself (no torch) -------------------------------------------

def test_flat_range_with_a_torch_generator_is_the_slice_and_advances_fully():
    full = init.normal((50, 7), generator=TorchGenerator(3))
    g = TorchGenerator(3)
    part = init.normal((50, 7), generator=g, flat_range=(10, 40))
    np.testing.assert_array_equal(part, full.ravel()[10:40])
    h = TorchGenerator(3)
    init.normal((50, 7), generator=h)
    assert np.array_equal(g.get_state(), h.get_state())


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


def test_pickle_keeps_the_stream():
    g = TorchGenerator(4)
    g.random(700)
    twin = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(twin.random(10), g.random(10))


def test_exported_from_the_package():
    assert convinit.TorchGenerator is TorchGenerator


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

