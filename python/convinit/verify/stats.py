"""Statistical tests with a stated false-alarm rate and power.

Every run keeps its family-wise false-alarm rate at ``FAMILY_ALPHA`` by
Bonferroni: each of its ``m`` statistical tests uses ``alpha = FAMILY_ALPHA / m``.
Each test also states the smallest effect it detects with probability at
least ``POWER`` at that alpha, computed from its sample size.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

FAMILY_ALPHA = 1e-6
POWER = 0.99


@dataclass(frozen=True)
class StatResult:
    test: str
    statistic: float
    p_value: float
    n: int
    alpha: float
    effect: float          # smallest detectable effect, in the unit ``detectable`` names
    detectable: str        # e.g. "detects std error >= 1.6%"
    estimate: str = ""     # what was measured, for people


def bonferroni_alpha(tests: int) -> float:
    return FAMILY_ALPHA / max(int(tests), 1)


def _z_alpha(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


Z_POWER = float(stats.norm.ppf(POWER))


def _two_sided_p(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z)))


def mean_z_test(x: np.ndarray, mean: float, std: float, alpha: float) -> StatResult:
    """z = (mean(x) - mean) / (std / sqrt(n)); detects shifts of (z_a + z_b) std / sqrt(n)."""
    n = x.size
    got = float(np.mean(x))
    z = (got - mean) / (std / math.sqrt(n))
    effect = (_z_alpha(alpha) + Z_POWER) / math.sqrt(n)
    return StatResult("z-test (mean)", z, _two_sided_p(z), n, alpha, effect,
                      f"detects a mean shift >= {effect:.3g} std", f"mean {got:.6g} (expected {mean:.6g})")


def std_z_test(x: np.ndarray, mean: float, std: float, kurtosis: float, alpha: float) -> StatResult:
    """Sample variance about the known mean vs std^2: ``s^2/std^2`` has standard
    error ``sqrt((kurtosis - 1) / n)`` (kurtosis 3 normal, 1.8 uniform).

    Detectable std error: the ratio r = (1+d)^2 rejected with power POWER, i.e.
    ``r - 1 - z_a se >= z_b r se`` (the alternative's spread grows with r).
    """
    n = x.size
    ratio = float(np.mean((x - mean) ** 2)) / std ** 2
    se = math.sqrt((kurtosis - 1) / n)
    z = (ratio - 1) / se
    za = _z_alpha(alpha)
    up = math.sqrt((1 + za * se) / (1 - Z_POWER * se)) - 1
    down = 1 - math.sqrt(max(1 - za * se, 0.0) / (1 + Z_POWER * se))
    effect = max(up, down)
    return StatResult("z-test (std)", z, _two_sided_p(z), n, alpha, effect,
                      f"detects a std error >= {effect:.2%}",
                      f"std {math.sqrt(ratio) * std:.6g} (expected {std:.6g}, ratio {math.sqrt(ratio):.5f})")


def ks_test(x: np.ndarray, dist: stats.rv_continuous, alpha: float) -> StatResult:
    """Kolmogorov-Smirnov against the reference CDF. Detectable CDF distance:
    the asymptotic critical value plus the DKW bound ``sqrt(ln(2/(1-POWER))/(2n))``."""
    n = x.size
    result = stats.kstest(x, dist.cdf)
    effect = float(stats.kstwobign.isf(alpha)) / math.sqrt(n) + math.sqrt(math.log(2 / (1 - POWER)) / (2 * n))
    return StatResult("Kolmogorov-Smirnov", float(result.statistic), float(result.pvalue), n, alpha, effect,
                      f"detects a CDF distance >= {effect:.3g}", f"D = {result.statistic:.4g}")


@functools.lru_cache(maxsize=None)
def _noncentrality_for_power(df: int, alpha: float) -> float:
    """The noncentrality at which a chi-square(df) test at ``alpha`` has power POWER."""
    critical = stats.chi2.isf(alpha, df)
    return float(optimize.brentq(lambda lam: stats.ncx2.sf(critical, df, lam) - POWER, 1e-9, 1e6))


def chi_square_counts(counts: np.ndarray, probabilities: np.ndarray, alpha: float, test: str) -> StatResult:
    """Pearson's chi-square on counts; detectable effect as Cohen's
    ``w = sqrt(sum (p'-p)^2 / p)``, from the noncentrality ``n w^2`` with power POWER."""
    n = int(counts.sum())
    expected = n * probabilities
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    df = counts.size - 1
    effect = math.sqrt(_noncentrality_for_power(df, alpha) / n)
    return StatResult(test, statistic, float(stats.chi2.sf(statistic, df)), n, alpha, effect,
                      f"detects Cohen's w >= {effect:.3g} ({counts.size} bins)")


def chi_square_test(x: np.ndarray, dist: stats.rv_continuous, alpha: float, bins: int = 64) -> StatResult:
    """Chi-square on ``bins`` bins equiprobable under the reference distribution."""
    edges = dist.ppf(np.arange(1, bins) / bins)
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=bins)
    return chi_square_counts(counts, np.full(bins, 1.0 / bins), alpha, "chi-square")


def support_test(x: np.ndarray, low: float, high: float, alpha: float) -> StatResult:
    """Do the extremes reach both ends of [low, high]? Under the uniform law the
    gap ``g`` (fraction of the width) at one end exceeds ``g`` with probability
    ``(1-g)^n``; a bound short by more than ``1 - (alpha/2)^(1/n)`` is always caught."""
    n = x.size
    width = high - low
    gap = max((high - float(np.max(x))) / width, (float(np.min(x)) - low) / width, 0.0)
    p = min(1.0, 2 * math.exp(n * math.log1p(-min(gap, 1 - 1e-16))))
    effect = -math.expm1(math.log(alpha / 2) / n)
    return StatResult("extremes vs bounds", gap, p, n, alpha, effect,
                      f"detects a bound short by >= {effect * 100:.2g}% of the range",
                      f"range [{np.min(x):.6g}, {np.max(x):.6g}] (expected [{low:.6g}, {high:.6g}])")


def correlation_test(a: np.ndarray, b: np.ndarray, alpha: float) -> StatResult:
    """Pearson correlation of paired values; Fisher's ``atanh(r) sqrt(n-3)`` is N(0,1) under independence."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    n = a.size
    r = float(np.corrcoef(a, b)[0, 1])
    z = math.atanh(max(min(r, 1 - 1e-16), -1 + 1e-16)) * math.sqrt(n - 3)
    effect = math.tanh((_z_alpha(alpha) + Z_POWER) / math.sqrt(n - 3))
    return StatResult("correlation z-test", z, _two_sided_p(z), n, alpha, effect,
                      f"detects |correlation| >= {effect:.3g}", f"r = {r:.4g}")


def xor_popcount_test(a: np.ndarray, b: np.ndarray, alpha: float) -> StatResult:
    """Differing bits of paired uint32 words: Binomial(32, 1/2), mean 16, variance 8."""
    diff = np.bitwise_xor(np.asarray(a, np.uint32), np.asarray(b, np.uint32))
    bits = np.unpackbits(diff.view(np.uint8)).reshape(diff.size, 32).sum(axis=1)
    n = diff.size
    got = float(bits.mean())
    z = (got - 16) / math.sqrt(8 / n)
    effect = (_z_alpha(alpha) + Z_POWER) * math.sqrt(8 / n)
    return StatResult("z-test (XOR popcount)", z, _two_sided_p(z), n, alpha, effect,
                      f"detects a shift >= {effect:.3g} differing bits per word", f"mean {got:.4f} (expected 16)")


def bit_frequency_test(words: np.ndarray, alpha: float) -> StatResult:
    """Each of the 32 bit positions is 1 half the time: ``sum z_j^2 ~ chi2(32)``.
    A single bit with P(1) = 1/2 + d adds noncentrality ``4 n d^2``."""
    words = np.asarray(words, np.uint32)
    n = words.size
    ones = np.unpackbits(words.view(np.uint8)).reshape(n, 32).sum(axis=0)
    statistic = float(np.sum((ones - n / 2) ** 2 / (n / 4)))
    effect = math.sqrt(_noncentrality_for_power(32, alpha) / (4 * n))
    return StatResult("chi-square (bit frequency)", statistic, float(stats.chi2.sf(statistic, 32)), n, alpha, effect,
                      f"detects one bit biased by >= {effect:.3g}")


def top_byte_test(words: np.ndarray, alpha: float) -> StatResult:
    counts = np.bincount(np.asarray(words, np.uint32) >> 24, minlength=256)
    return chi_square_counts(counts, np.full(256, 1 / 256), alpha, "chi-square (top byte)")


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


def shared_windows(a: np.ndarray, b: np.ndarray) -> int:
    """How many runs of 3 consecutive values (by bit pattern) of ``b`` also occur
    in ``a``: nonzero when two streams overlap. For independent draws the
    chance of any shared run is below 1e-9 at these sizes (each run carries
    more than 64 bits; hashing them to 64 bits adds n^2 / 2^64)."""
    def keys(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x).ravel()
        bits = x.view(np.uint64 if x.dtype.itemsize == 8 else np.uint32).astype(np.uint64)
        with np.errstate(over="ignore"):
            return np.unique(bits[:-2] * _MIX[0] + bits[1:-1] * _MIX[1] + bits[2:])
    return int(np.intersect1d(keys(a), keys(b), assume_unique=True).size)


def standardized_moments(dist: stats.rv_continuous) -> tuple[float, float]:
    """``E[z^4]`` and ``E[z^8]`` of ``z = (X - mean) / std`` under ``dist``."""
    mean, std = float(dist.mean()), float(dist.std())
    family = getattr(getattr(dist, "dist", None), "name", "")
    if family == "norm":
        return 3.0, 105.0
    if family == "uniform":
        return 1.8, 9.0   # z uniform on [-sqrt 3, sqrt 3]: 3^2/5 and 3^4/9
    if family == "truncnorm":   # args (a, b) standardized; loc and scale do not matter
        return _truncnorm_moments(*(float(v) for v in dist.args[:2]))
    return _expected_powers(dist, mean, std)


@functools.lru_cache(maxsize=256)
def _truncnorm_moments(a: float, b: float) -> tuple[float, float]:
    """Standardized moments of a truncated normal depend only on its standardized bounds."""
    dist = stats.truncnorm(a, b)
    return _expected_powers(dist, float(dist.mean()), float(dist.std()))


def _expected_powers(dist: stats.rv_continuous, mean: float, std: float) -> tuple[float, float]:
    fourth, eighth = (float(dist.expect(lambda x, k=k: ((x - mean) / std) ** k)) for k in (4, 8))
    return fourth, eighth


def kurtosis_z_test(x: np.ndarray, dist: stats.rv_continuous, alpha: float) -> StatResult:
    """The fourth standardized moment about the known mean and std against the
    reference's: its standard error is ``sqrt((E z^8 - (E z^4)^2) / n)``. Heavy
    or clipped tails (the old erfinv ``trunc_normal_`` put values at 1000 sigma)
    move it long before the std does. Detectable shift in ``E z^4``: ``(z_a + z_b) se``
    (the alternative's spread taken as the null's)."""
    n = x.size
    fourth, eighth = standardized_moments(dist)
    got = float(np.mean(((x - float(dist.mean())) / float(dist.std())) ** 4))
    se = math.sqrt(max(eighth - fourth ** 2, 1e-300) / n)
    z = (got - fourth) / se
    effect = (_z_alpha(alpha) + Z_POWER) * se
    return StatResult("z-test (kurtosis)", z, _two_sided_p(z), n, alpha, effect / fourth,
                      f"detects a kurtosis error >= {effect / fourth:.2%}",
                      f"E[z^4] {got:.5g} (expected {fourth:.5g})")


TAIL_MASS = 1e-3


def tail_test(x: np.ndarray, dist: stats.rv_continuous, alpha: float) -> StatResult:
    """Chi-square on three cells: below the reference's ``TAIL_MASS`` quantile,
    between, above its ``1 - TAIL_MASS`` quantile. Values piled up at a bound
    or a tail cut short or too heavy change the outer cells' counts."""
    low, high = dist.ppf(TAIL_MASS), dist.isf(TAIL_MASS)
    counts = np.array([np.sum(x < low), 0, np.sum(x > high)])
    counts[1] = x.size - counts[0] - counts[2]
    result = chi_square_counts(counts, np.array([TAIL_MASS, 1 - 2 * TAIL_MASS, TAIL_MASS]), alpha,
                               "chi-square (0.1% tails)")
    expected = x.size * TAIL_MASS
    return StatResult(result.test, result.statistic, result.p_value, result.n, alpha, result.effect,
                      result.detectable, f"{counts[0]} low, {counts[2]} high (expected {expected:.1f} each)")


def extreme_test(x: np.ndarray, dist: stats.rv_continuous, alpha: float) -> StatResult:
    """The largest standardized deviation against the law of the maximum of ``n``
    draws: ``p = 1 - (1 - P(|Z| > max))^n``, the chance of an extreme at least
    as far out. One value at 1000 sigma gives p = 0. Detects a single value
    beyond the deviation ``t`` with ``n P(|Z| > t) = alpha``."""
    n = x.size
    mean, std = float(dist.mean()), float(dist.std())
    worst = float(np.max(np.abs(x - mean))) / std
    tail = float(dist.sf(mean + worst * std) + dist.cdf(mean - worst * std))
    p = float(-np.expm1(n * np.log1p(-min(tail, 1 - 1e-16))))
    threshold = float(dist.isf(alpha / (2 * n)) - mean) / std
    return StatResult("extreme-value test", worst, p, n, alpha, threshold,
                      f"detects any value beyond {threshold:.3g} std", f"max |x - mean| = {worst:.4g} std")
