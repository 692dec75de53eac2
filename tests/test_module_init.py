"""init_module: every layer of a torch module, by the formulas of torch.nn.init."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import convinit
from convinit.experiments.params import text_cnn_spec, to_torch
from convinit.init import init_module


def big_net():
    return nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(128), nn.Flatten(), nn.Linear(512, 1024),
                         nn.LSTM(256, 128, num_layers=2))


def test_kaiming_normal_on_every_layer_with_zero_biases():
    net = init_module(big_net(), "kaiming_normal", seed=3, mode="fan_in", nonlinearity="relu")
    conv, bn, _, linear, lstm = net
    # std = gain / sqrt(fan_in), gain(relu) = sqrt(2) (He et al. 2015); 73,728+ samples: 2% is > 5 sigma
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.02)
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    assert lstm.weight_ih_l0.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.02)
    assert lstm.weight_hh_l1.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.02)
    for name, p in net.named_parameters():
        if "bias" in name:
            assert torch.count_nonzero(p) == 0, name
    assert torch.all(bn.weight == 1)


def test_text_003_init_param_semantics():
    """kaiming_normal_ weights (torch's defaults: fan_in, leaky_relu a=0), zero biases, BN (1, 0)."""
    net = init_module(to_torch(text_cnn_spec(batchnorm=True)), "kaiming_normal", seed=0)
    linear = net.net.linear_11
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / 3136), rel=0.03)
    assert torch.all(net.net.batchnorm2d_01.weight == 1) and torch.all(net.net.batchnorm2d_01.bias == 0)


def test_text_004_create_weight_uses_torch_fans_of_the_matrix():
    """create_weight((input + hidden, 4 * hidden)) with kaiming_normal_(mode='fan_in', relu):
    torch's fan_in of a 2-D tensor is its second dimension, here 4 * hidden."""
    inputs, hidden = 96, 64
    w = convinit.init.kaiming_normal_(torch.empty(inputs + hidden, 4 * hidden), mode="fan_in",
                                      nonlinearity="relu", seed=0)
    assert convinit.init.fans(w.shape) == (4 * hidden, inputs + hidden)
    assert w.std().item() == pytest.approx(math.sqrt(2 / (4 * hidden)), rel=0.02)
    bias = convinit.init.constant_(torch.empty(4 * hidden), 0.0)
    assert torch.count_nonzero(bias) == 0


def test_torch_default_uses_reset_parameters_bounds():
    net = init_module(big_net(), "torch_default", seed=1)
    conv, _, _, linear, lstm = net
    for layer, fan_in in ((conv, 64 * 9), (linear, 512)):
        # kaiming_uniform(a=sqrt(5)): bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(fan_in); bias the same
        bound = 1 / math.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            assert p.abs().max().item() <= bound and p.abs().max().item() > 0.98 * bound
    for p in lstm.parameters():
        assert p.abs().max().item() <= 1 / math.sqrt(128) and p.abs().max().item() > 0.98 / math.sqrt(128)


def test_seeded_and_structure_deterministic():
    a = init_module(big_net(), "xavier_uniform", seed=5)
    b = init_module(big_net(), "xavier_uniform", seed=5)
    c = init_module(big_net(), "xavier_uniform", seed=6)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), name
        if "weight" in name and p.dim() > 1:
            assert not torch.equal(p, r), name


def test_bad_arguments():
    with pytest.raises(ValueError, match="scheme"):
        init_module(big_net(), "magic")
    with pytest.raises(TypeError, match="module"):
        init_module([1, 2], "zeros")
    with pytest.raises(ValueError, match="(?i)mode"):
        init_module(big_net(), "kaiming_normal", mode="fan_sideways")
