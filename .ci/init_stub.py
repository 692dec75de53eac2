#!/usr/bin/env python3
"""Writes python/convinit/init.pyi from the signatures convinit.init builds
at run time, so that type checkers see each generated initializer's real
parameters.

    python .ci/init_stub.py           # rewrite the stub
    python .ci/init_stub.py --check   # exit 1 if the stub is out of date (CI)

A parameter added to an initializer's plan, or to the shared parameter lists
in init.py (``_RNG_PARAMS``, ``_OUT_PARAMS``), reaches the stub by re-running
this script; the annotations there must be names the header below imports.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

import convinit.init as init

STUB = Path(__file__).resolve().parent.parent / "python" / "convinit" / "init.pyi"
WIDTH = 120

HEADER = '''"""Type stubs for ``convinit.init``.

Written by ``python .ci/init_stub.py`` from the run-time signatures of the
generated initializers: change init.py, then re-run it (CI checks it is
current, and ``mypy.stubtest`` that it matches the module).
"""

from typing import Any, Optional, Sequence, TypeVar, Union

import numpy as np
import numpy.typing as npt
import torch

from ._args import ShapeLike
from .random import Generator
from .torch.module_init import init_module as init_module
from .torchgen import TorchGenerator

_FloatArray = npt.NDArray[np.floating[Any]]
_AnyGenerator = Union[Generator, TorchGenerator, torch.Generator]
_DTypeLike = Union[npt.DTypeLike, torch.dtype]
_TensorT = TypeVar("_TensorT", bound=Union[npt.NDArray[np.floating[Any]], torch.Tensor])
# A block of a tensor: one step-1 slice or (start, stop) pair per axis.
_Region = Sequence[Union[slice, tuple[int, int]]]

class ZeroFanError(ValueError, ZeroDivisionError): ...
'''


def _annotation(value: object) -> str:
    if value is inspect.Parameter.empty:
        raise SystemExit(f"init_stub: a parameter or return value has no annotation ({value!r})")
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _parameter(param: inspect.Parameter) -> str:
    text = f"{param.name}: {_annotation(param.annotation)}"
    if param.default is inspect.Parameter.empty:
        return text
    default = json.dumps(param.default) if isinstance(param.default, str) else repr(param.default)
    return f"{text} = {default}"


def _parameters(signature: inspect.Signature) -> list[str]:
    parts, keyword_only = [], False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        parts.append(_parameter(param))
    return parts


def stub_function(name: str) -> str:
    signature = inspect.signature(getattr(init, name))
    returns = _annotation(signature.return_annotation)
    parts = _parameters(signature)
    one_line = f"def {name}({', '.join(parts)}) -> {returns}: ..."
    if len(one_line) <= WIDTH:
        return one_line
    body = "".join(f"    {part},\n" for part in parts)
    return f"def {name}(\n{body}) -> {returns}: ..."


def stub_text() -> str:
    functions = [name for name in init.__all__ if inspect.isfunction(getattr(init, name))]
    names = "".join(f'    "{name}",\n' for name in init.__all__)
    lines = [HEADER, f"__all__ = [\n{names}]\n", *(stub_function(name) for name in functions)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the stub differs instead of writing it")
    text = stub_text()
    if parser.parse_args().check:
        if STUB.read_text() != text:
            print(f"{STUB} is out of date: run python .ci/init_stub.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
