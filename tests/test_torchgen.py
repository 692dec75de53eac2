"""convinit.TorchGenerator live against the installed torch: values and
generator state of uniform_/normal_/trunc_normal_ and the weight
initializers, TensorIterator's order on non-contiguous targets, and
init_module(scheme="torch") against module construction."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from convinit import TorchGenerator, init
from convinit.torch_scheme import torch_parameters
from convinit.torchgen import PINNED_TORCH_VERSIONS

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


def test_random_words_are_torchs():
    # random_(0, 2**24) takes random() % 2**24: the low 24 bits of each word.
    gen = torch.Generator().manual_seed(11)
    expected = torch.empty(2000, dtype=torch.int64).random_(0, 2**24, generator=gen).numpy()
    ours = TorchGenerator(11)
    np.testing.assert_array_equal(ours.random(2000).astype(np.int64) & (2**24 - 1), expected)
    assert np.array_equal(ours.get_state(), gen.get_state().numpy())


# ---- bad input ---------------------------------------------------------------


# ---- init_module(scheme="torch") against module construction --------------------

nn = torch.nn


class _ConvLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.BatchNorm2d(8)
        self.embed = nn.Embedding(100, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 12, num_layers=2, bidirectional=True)
        self.head = nn.Linear(24, 5)


MODULES = {
    "linear": lambda: nn.Linear(5, 7),
    "linear_no_bias_float64": lambda: nn.Linear(5, 7, bias=False, dtype=torch.float64),
    "conv1d": lambda: nn.Conv1d(3, 8, 5),
    "conv2d_groups": lambda: nn.Conv2d(4, 8, 3, groups=2),
    "conv3d": lambda: nn.Conv3d(2, 4, 3),
    "conv_transpose1d": lambda: nn.ConvTranspose1d(3, 5, 2),
    "conv_transpose2d": lambda: nn.ConvTranspose2d(6, 4, 3, groups=2),
    "conv_transpose3d": lambda: nn.ConvTranspose3d(2, 3, 2),
    "embedding": lambda: nn.Embedding(50, 8, padding_idx=3),
    "layer_norm": lambda: nn.LayerNorm(10),
    "batch_norm": lambda: nn.BatchNorm1d(6),
    "lstm": lambda: nn.LSTM(10, 20, num_layers=2, bidirectional=True),
    "lstm_proj": lambda: nn.LSTM(10, 20, proj_size=5),
    "gru": lambda: nn.GRU(7, 9),
    "mha": lambda: nn.MultiheadAttention(16, 4),
    "mha_kv_dims": lambda: nn.MultiheadAttention(16, 4, kdim=8, vdim=12, add_bias_kv=True),
    "mha_no_bias": lambda: nn.MultiheadAttention(16, 4, bias=False),
    "transformer_layer": lambda: nn.TransformerEncoderLayer(32, 4, 64),
    "composite": _ConvLstm,
}


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 5, 2**63])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_init_module_torch_scheme_matches_construction(name, seed):
    torch.manual_seed(seed)
    expected = MODULES[name]()
    state_after = torch.get_rng_state()
    model = MODULES[name]()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    assert init.init_module(model, "torch", seed=seed) is model
    for (key, want), got in zip(expected.state_dict().items(), model.state_dict().values()):
        assert torch.equal(got, want), key
    # The NumPy-only form from the module's entries, and the generator's end state.
    from convinit.torch_scheme import torch_entries

    generator = TorchGenerator(seed)
    values = torch_parameters(torch_entries(expected), generator=generator)
    assert all(np.array_equal(values[n], p.detach().numpy()) for n, p in expected.named_parameters())
    assert np.array_equal(generator.get_state(), state_after.numpy())


def test_init_module_torch_scheme_rejects_unknown_layers_and_options():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))

    with pytest.raises(TypeError, match="does not know how Custom"):
        init.init_module(Custom(), "torch", seed=0)
    with pytest.raises(TypeError, match="takes only seed"):
        init.init_module(nn.Linear(2, 2), "torch", seed=0, gain=2.0)


def test_init_module_torch_scheme_with_a_torch_generator_advances_it():
    gen = torch.Generator().manual_seed(5)
    model = init.init_module(nn.Linear(4, 3), "torch", generator=gen)
    torch.manual_seed(5)
    expected = nn.Linear(4, 3)
    assert torch.equal(model.weight, expected.weight) and torch.equal(model.bias, expected.bias)
    assert torch.equal(gen.get_state(), torch.get_rng_state())
