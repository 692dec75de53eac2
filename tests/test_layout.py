"""The package's layering: what importing each public module pulls in, and
that names moved between modules stay reachable where users found them."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after_import(statement: str) -> set[str]:
    """The top-level modules loaded by ``statement`` in a fresh interpreter."""
    probe = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("statement", ["import convinit", "import convinit.init", "from convinit import init"])
def test_the_api_imports_no_torch(statement):
    assert "torch" not in _modules_after_import(statement)


@pytest.mark.parametrize("statement", ["import convinit.verify", "import convinit.verify.reference"])
def test_the_verify_package_does_not_import_rich_until_the_runner_is_needed(statement):
    assert "rich" not in _modules_after_import(statement)


def test_verify_runner_names_resolve_lazily():
    import convinit.verify as verify
    from convinit.verify import runner

    assert verify.Options is runner.Options
    assert verify.UsageError is runner.UsageError
    assert {"Options", "UsageError"} <= set(dir(verify))
    with pytest.raises(AttributeError, match="no_such_name"):
        verify.no_such_name  # noqa: B018


def test_init_module_lives_in_convinit_torch_and_stays_reachable_from_init():
    import convinit.init
    import convinit.torch
    from convinit.torch import module_init

    assert convinit.init.init_module is module_init.init_module is convinit.torch.init_module
    assert "init_module" in dir(convinit.init)
    with pytest.raises(AttributeError, match="no_such_name"):
        convinit.init.no_such_name  # noqa: B018


def test_argument_parsers_have_one_home():
    from convinit import _args, init, random

    for name in ("seed_arg", "shape_arg", "dtype_arg", "flat_range_arg", "float_param"):
        assert getattr(random, name, getattr(_args, name)) is getattr(_args, name)
        assert getattr(init, name, getattr(_args, name)) is getattr(_args, name)
