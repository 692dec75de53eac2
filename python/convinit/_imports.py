"""Imports of optional libraries (torch, SciPy) that Ctrl-C cannot break.

torch's import runs Python code from C++ through pybind11. Ctrl-C in
``convinit verify``'s first seconds, while torch was importing, either
aborted the process (a KeyboardInterrupt inside that code escaped as a C++
exception, and ``std::terminate`` ran) or, though the CLI caught it and
returned 130, ended the process by SIGINT. Holding the signal until the
import is done, then raising it, avoided both in every run tried.
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
