"""The suite registry. A suite is a function planning tasks for a budget and
seed; ``convinit verify SUITE`` runs them. Later suites (variance, params,
train) register the same way: ``@register("name", "what it checks")``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ..context import Budget
from ..records import Task

BUILTIN_MODULES = ("conv", "init", "rng", "variance", "params")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    plan: Callable[[Budget, int], list[Task]]
    default: bool = True      # run when no suite is named (a slow suite opts out)


_SUITES: dict[str, Suite] = {}


def register(name: str, description: str, default: bool = True) -> Callable:
    def decorate(plan: Callable[[Budget, int], list[Task]]) -> Callable:
        _SUITES[name] = Suite(name, description, plan, default)
        return plan

    return decorate


def suites() -> dict[str, Suite]:
    """Every registered suite, by name (importing the built-in ones first)."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return dict(_SUITES)
