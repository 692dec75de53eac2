"""``convinit verify``: checks any convolution, initializer or random-number
backend (convinit, torch, numpy, scipy, or a user's ``module:attr``) against
torch, SciPy, a float64 NumPy reference, published known answers and the
statistics the theory predicts. See ``runner.run`` and ``selftest.run``."""

from .backends import Backend, BackendError, load_backend
from .records import Check
from .runner import Options, UsageError

__all__ = ["Backend", "BackendError", "Check", "Options", "UsageError", "load_backend"]
