"""Initialization: fill speed across backends, and the statistics of the
fills tracked across commits so that a change in quality shows up as a step
in the graph."""

import numpy as np
from scipy import stats

import convinit
from convinit.bench import init_cases
from convinit.experiments import variance

from .common import pin_threads

FILL_SIZE = 16 * 2**20


class Fills:
    """16M float32 values filled in place."""

    params = (["uniform", "normal", "trunc_normal"], ["convinit", "torch", "numpy"])
    param_names = ["fill", "backend"]

    def setup(self, fill, backend):
        pin_threads()
        cases = init_cases(FILL_SIZE, ("numpy",))[fill]
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
        """E[a^2] of the 10th He-initialized ReLU layer over E[x^2] of the
        input (text 000's network); He et al. 2015 predicts 1."""
        result = variance.run_dense(variance.Config())
        return float(result["E_a2"] / result["E_x2"])

    track_he_relu_signal_ratio.unit = "E[a^2] / E[x^2]"
