"""Conformance checks in your own test file.

    import convinit.testing
    import mykernels

    @convinit.testing.parametrize_with_checks(mykernels, suites=["init"])
    def test_conformance(check):
        check()

Each check runs one task of ``convinit verify`` on the backend (a module or
object exposing some of convinit's public functions, or a backend name /
``module:attr``) and raises ``AssertionError`` with the harness's rows when
it fails; checks of functions the backend lacks are pytest skips. The
statistical checks share a family-wise false-alarm rate of 1e-6
(Bonferroni over every statistical test the parametrization generates).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence


def checks(backend: Any, suites: Sequence[str] = (), quick: bool = True, seed: int = 0,
           mode: Optional[str] = None) -> Iterator[Any]:
    """The conformance checks for ``backend``: callables with an ``id``."""
    from .verify.conformance import iter_checks

    return iter_checks(backend, suites, quick, seed, mode)


def parametrize_with_checks(backend: Any, suites: Sequence[str] = (), quick: bool = True, seed: int = 0,
                            mode: Optional[str] = None) -> Any:
    """``pytest.mark.parametrize("check", ...)`` over ``checks(...)``, ids the
    check ids; a check the backend lacks functions for is a skip with the reason."""
    import pytest

    params = [pytest.param(c, id=c.id, marks=[pytest.mark.skip(reason=c.skip_reason)] if c.skip_reason else [])
              for c in checks(backend, suites, quick, seed, mode)]
    return pytest.mark.parametrize("check", params)
