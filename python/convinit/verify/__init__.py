"""``convinit verify``: checks any convolution, initializer or random-number
backend (convinit, torch, numpy, scipy, or a user's ``module:attr``) against
torch, SciPy, a float64 NumPy reference, published known answers and the
statistics the theory predicts. See ``runner.run`` and ``selftest.run``.

The runner (and with it rich, which draws the tables) is imported on first
use of ``Options`` or ``UsageError``, so importing this package, or
``convinit.verify.reference`` from it, stays cheap.
"""

from typing import Any

from .backends import Backend, BackendError, load_backend
from .records import Check

__all__ = ["Backend", "BackendError", "Check", "Options", "UsageError", "load_backend"]

_RUNNER_NAMES = ("Options", "UsageError")


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_RUNNER_NAMES])
