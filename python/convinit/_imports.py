"""Imports of optional libraries (torch, SciPy) that Ctrl-C cannot break.

torch's import runs Python code from C++ through pybind11. A KeyboardInterrupt
raised in that code either aborts the process (the C++ exception that carries
it escapes, and ``std::terminate`` runs) or, once caught, still makes CPython
exit by SIGINT instead of with the CLI's status 130: the nested run marks the
interrupt as unhandled. Both were seen when ``convinit verify`` got Ctrl-C in
its first two seconds. Holding the signal until the import is done, then
raising it, avoids both.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from types import ModuleType
from typing import Iterator, Optional


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Runs the block with SIGINT recorded instead of raised, and raises
    KeyboardInterrupt after it if one came. Only where Python's default
    handler is active, on the main thread; elsewhere it changes nothing."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if not on_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def optional_import(name: str) -> Optional[ModuleType]:
    """The module, or None when it (or something it needs) is not installed."""
    try:
        with interrupts_held():
            return importlib.import_module(name)
    except ImportError:
        return None
