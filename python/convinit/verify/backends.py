"""Backends: any object exposing some of convinit's public functions with
convinit's signatures. Built in: ``convinit``, ``torch``, ``numpy`` (the
float64 reference), ``scipy``; anything else is loaded as ``module:attr``."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from typing import Any, Callable, Iterable

from .._imports import interrupts_held, optional_import

CONV_FUNCTIONS = ("conv1d", "conv2d", "conv3d", "unfold", "fold", "correlate2d", "convolve2d", "conv_output_size")
RANDOM_FILLS = ("uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                "kaiming_normal", "orthogonal", "sparse")
FIXED_FILLS = ("constant", "zeros", "ones", "eye", "dirac")
# Parameters for each fill where a check only needs "some valid call".
DEFAULT_PARAMS = {"uniform": {"a": -1.0, "b": 1.0}, "sparse": {"sparsity": 0.1}, "constant": {"val": 0.37}}
INIT_FUNCTIONS = ("fans", "calculate_gain") + RANDOM_FILLS + FIXED_FILLS + tuple(
    f + "_" for f in RANDOM_FILLS + FIXED_FILLS)
RNG_FUNCTIONS = ("Generator", "philox4x32_10")
PUBLIC_FUNCTIONS = CONV_FUNCTIONS + INIT_FUNCTIONS + RNG_FUNCTIONS
# Collected when a backend has them, never reported missing: PyTorch's CPU
# stream is an extra that the reference backends do not offer.
OPTIONAL_FUNCTIONS = ("TorchGenerator",)

BUILTIN_BACKENDS = ("convinit", "torch", "numpy", "scipy")


class BackendError(ValueError):
    """A backend name or ``module:attr`` that cannot be loaded."""


class Backend:
    """The functions a backend provides, by convinit's public names."""

    def __init__(self, name: str, functions: dict[str, Callable], description: str = ""):
        self.name = name
        self.functions = dict(functions)
        self.description = description or name

    def get(self, name: str) -> Callable:
        return self.functions[name]

    def has(self, *names: str) -> bool:
        return all(n in self.functions for n in names)

    @property
    def found(self) -> list[str]:
        return [n for n in PUBLIC_FUNCTIONS if n in self.functions]

    @property
    def missing(self) -> list[str]:
        return [n for n in PUBLIC_FUNCTIONS if n not in self.functions]

    def replaced(self, name: str, overrides: dict[str, Callable]) -> "Backend":
        """A copy with some functions swapped (for the self-test's mutants)."""
        return Backend(name, {**self.functions, **overrides}, f"{self.description} with {', '.join(overrides)} replaced")

    def completed_by(self, other: "Backend") -> "Backend":
        """A copy that borrows what it lacks from ``other``."""
        borrowed = [n for n in other.functions if n not in self.functions]
        if not borrowed:
            return self
        return Backend(self.name, {**other.functions, **self.functions},
                       f"{self.description} + {other.name} for the {len(borrowed)} functions it lacks")


def collect(name: str, namespaces: Iterable[Any], description: str = "") -> Backend:
    """The public functions found as attributes of the first namespace that has them."""
    functions = {}
    for fn_name in PUBLIC_FUNCTIONS + OPTIONAL_FUNCTIONS:
        for namespace in namespaces:
            fn = getattr(namespace, fn_name, None) if namespace is not None else None
            if callable(fn):
                functions[fn_name] = fn
                break
    return Backend(name, functions, description)


def accepts(fn: Callable, keyword: str) -> bool:
    """Whether ``fn`` names the parameter ``keyword`` (``**kwargs`` alone does
    not count: it says nothing of meaning); False when it has no signature."""
    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _convinit() -> Backend:
    import convinit

    return collect("convinit", [convinit, optional_import("convinit.init")], f"convinit {convinit.__version__}")


def _torch() -> Backend:
    with interrupts_held():
        from . import torch_adapter

    return collect("torch", [torch_adapter], f"torch {torch_adapter.torch.__version__} (torch.nn.functional, "
                                            "torch.nn.init)")


def _numpy() -> Backend:
    import numpy

    from . import reference

    return collect("numpy", [reference], f"pure-NumPy float64 reference (numpy {numpy.__version__})")


def _scipy() -> Backend:
    import scipy
    import scipy.signal

    return collect("scipy", [scipy.signal], f"scipy.signal {scipy.__version__}")


_BUILTIN = {"convinit": _convinit, "torch": _torch, "numpy": _numpy, "scipy": _scipy}


def _user_object(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise BackendError(f"backend {spec!r}: expected one of {', '.join(BUILTIN_BACKENDS)} or module:attr")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())   # as `python -m` would: a module next to you is found
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error is the user's to see
        raise BackendError(f"backend {spec!r}: cannot import module {module_name!r} "
                           f"({type(exc).__name__}: {exc})") from None
    try:
        return functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        raise BackendError(f"backend {spec!r}: module {module_name!r} has no attribute {attr!r}") from None


def load_backend(spec: str) -> Backend:
    """A built-in backend by name, or ``module:attr`` (functions looked up on the
    object, then on its ``init`` attribute, as ``convinit`` and ``convinit.init``)."""
    if spec in _BUILTIN:
        try:
            return _BUILTIN[spec]()
        except ImportError as exc:
            raise BackendError(f"backend {spec!r} needs {exc.name or exc}: pip install 'convinit[verify]'") from None
    if ":" not in spec:
        raise BackendError(f"unknown backend {spec!r}: expected one of {', '.join(BUILTIN_BACKENDS)} or module:attr")
    obj = _user_object(spec)
    name = spec.rpartition(".")[2].rpartition(":")[2]
    if callable(obj) and name in PUBLIC_FUNCTIONS:
        return Backend(spec, {name: obj}, spec)   # module:kaiming_normal, a single function
    backend = collect(spec, [obj, getattr(obj, "init", None)], spec)
    if not backend.functions:
        raise BackendError(f"backend {spec!r} has none of convinit's public functions "
                           f"(e.g. conv2d, kaiming_normal, normal, uniform)")
    return backend
