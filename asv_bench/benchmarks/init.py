"""Initialization: fill speed across backends, and the statistics of the
fills tracked across commits so that a change in quality shows up as a step
in the graph."""

import numpy as np
from scipy import stats

import convinit

from .common import pin_threads

FILL_SIZE = 16 * 2**20


def _fills(fill: str) -> dict:
    """{backend: callable} filling a preallocated float32 buffer in place."""
    import torch

    ours, theirs, numpy_out = np.empty(FILL_SIZE, np.float32), torch.empty(FILL_SIZE), np.empty(FILL_SIZE, np.float32)
    gen, rng = convinit.Generator(0), np.random.default_rng(0)
    return {
        "uniform": {"convinit": lambda: convinit.init.uniform_(ours, -1.0, 1.0, generator=gen),
                    "torch": lambda: theirs.uniform_(-1.0, 1.0),
                    "numpy": lambda: rng.random(out=numpy_out, dtype=np.float32)},
        "normal": {"convinit": lambda: convinit.init.normal_(ours, 0.0, 0.02, generator=gen),
                   "torch": lambda: theirs.normal_(0.0, 0.02),
                   "numpy": lambda: rng.standard_normal(out=numpy_out, dtype=np.float32)},
        "trunc_normal": {"convinit": lambda: convinit.init.trunc_normal_(ours, 0.0, 1.0, -2.0, 2.0, generator=gen),
                         "torch": lambda: torch.nn.init.trunc_normal_(theirs, 0.0, 1.0, -2.0, 2.0)},
    }[fill]


class Fills:
    """16M float32 values filled in place."""

    params = (["uniform", "normal", "trunc_normal"], ["convinit", "torch", "numpy"])
    param_names = ["fill", "backend"]

    def setup(self, fill, backend):
        pin_threads()
        cases = _fills(fill)
        if backend not in cases:
            raise NotImplementedError(f"{backend} has no {fill} fill")  # asv skips the combination
        self.call = cases[backend]

    def time_fill(self, fill, backend):
        self.call()


class FillStatistics:
    def track_normal_ks_statistic(self):
        """Kolmogorov-Smirnov distance of 1M seeded N(0,1) draws from N(0,1);
        for a correct sampler it is ~ 0.87/sqrt(n) ~ 1e-3 on average."""
        values = convinit.init.normal_(np.empty(2**20), generator=convinit.Generator(0))
        return float(stats.kstest(values, "norm").statistic)

    track_normal_ks_statistic.unit = "KS statistic"

    def track_he_relu_signal_ratio(self):
        """E[a^2] after the 10th He-initialized ReLU layer over E[x^2] of the
        input (text 000's network, widths alternating 5 and 10), over 20,000
        trials with their own weights; He et al. 2015 predict 1."""
        trials, widths = 20_000, (5, 10)
        x = np.random.default_rng(0).standard_normal((trials, widths[0]))
        a = x
        for layer in range(10):
            fan_in, fan_out = widths[layer % 2], widths[(layer + 1) % 2]
            w = convinit.init.kaiming_normal((trials * fan_out, fan_in), nonlinearity="relu", seed=layer,
                                             dtype="float64").reshape(trials, fan_out, fan_in)
            a = np.maximum(np.einsum("toi,ti->to", w, a), 0.0)
        return float(np.mean(a**2) / np.mean(x**2))

    track_he_relu_signal_ratio.unit = "E[a^2] / E[x^2]"
