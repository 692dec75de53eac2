"""What a running check can see: the backend, the run's size, seed and
per-test alpha, and the references to compare with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from .._imports import optional_import
from . import reference
from .backends import Backend


@dataclass(frozen=True)
class Budget:
    """How much a run checks: ``--quick``, the default, or ``--full``."""

    name: str
    level: int                # grid cases up to this level (0 quick, 1 default, 2 full)
    random_conv_cases: int    # plus this many random valid cases drawn from --seed
    fill_samples: int         # values pooled over seeds per distribution check
    rng_words: int            # words or values per stream / fill in the rng suite
    scale_samples: int        # values per scale test of the init cross product


BUDGETS = {
    "quick": Budget("quick", 0, 0, 2 ** 18, 2 ** 16, 2 ** 15),
    "standard": Budget("standard", 1, 24, 2 ** 20, 2 ** 18, 2 ** 16),
    "full": Budget("full", 2, 120, 2 ** 22, 2 ** 20, 2 ** 19),
}


class Reference(NamedTuple):
    label: str
    fn: Callable


class References:
    """An independent reference for each quantity: torch or SciPy when
    installed and not themselves under test, else the NumPy float64 reference."""

    def __init__(self, backend_name: str):
        self.torch = None if backend_name == "torch" else optional_import("convinit.verify.torch_adapter")
        self.signal = None if backend_name == "scipy" else optional_import("scipy.signal")
        self._scales: dict = {}

    def conv(self, dims: int) -> Reference:
        if self.torch:
            return Reference(f"torch F.conv{dims}d float64", getattr(self.torch, f"conv{dims}d"))
        return Reference("NumPy im2col float64", reference.conv_f64)

    def unfold(self) -> Reference:
        if self.torch:
            return Reference("torch F.unfold float64", self.torch.unfold)
        return Reference("NumPy im2col float64", reference.unfold_f64)

    def fold(self) -> Reference:
        if self.torch:
            return Reference("torch F.fold float64", self.torch.fold)
        return Reference("NumPy col2im float64", reference.fold_f64)

    def correlate(self, convolve: bool) -> Reference:
        name = "convolve2d" if convolve else "correlate2d"
        if self.signal:
            return Reference(f"scipy.signal.{name}", getattr(self.signal, name))
        return Reference(f"NumPy {name} float64", getattr(reference, name))

    def fans(self) -> Reference:
        if self.torch:
            return Reference("torch.nn.init fans", self.torch.fans)
        return Reference("formula C*receptive field", reference.fans)

    def gain(self) -> Reference:
        if self.torch:
            return Reference("torch.nn.init.calculate_gain", self.torch.calculate_gain)
        return Reference("formula (torch docs)", reference.calculate_gain)

    def fixed_fill(self, name: str) -> Reference:
        source = self.torch or reference
        label = f"torch.nn.init.{name}_" if self.torch else f"NumPy {name}"
        return Reference(label, getattr(source, name))

    def scale(self, fill: str, shape: tuple[int, ...], params: dict) -> tuple[str, float]:
        """The std or bound of a xavier_*/kaiming_* fill, read off torch.nn.init
        (see ``torch_adapter.probe_scale``) or from the papers' formulas."""
        key = (fill, shape, tuple(sorted(params.items())))
        if key not in self._scales:
            if self.torch:
                self._scales[key] = (f"torch.nn.init.{fill}_", self.torch.probe_scale(fill, shape, **params))
            else:
                self._scales[key] = ("formula (Glorot 2010 / He 2015)", reference.init_scale(fill, shape, **params))
        return self._scales[key]


@dataclass
class Context:
    backend: Backend
    budget: Budget
    seed: int
    alpha: float
    refs: References
    spec: Optional[str] = None   # how a child process can load the backend (None: it cannot)
