"""Resources: no memory growth over many calls, and a clean Ctrl-C.

The RSS check runs in a fresh process: after a warm-up, 10,000 calls of
each kernel must not grow the resident set by more than a few MiB (a leak of
even one small array per call would add tens of MiB).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


CALLS = 10_000
MAX_GROWTH_KIB = 4 * 1024

# Runs in a child: RSS before and after CALLS calls of each kernel.
CHILD = r"""
import json, os, sys
import numpy as np
import convinit
from convinit import init

CALLS = int(sys.argv[1])
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_KIB

rng = np.random.default_rng(0)
x1, w1 = rng.standard_normal((2, 3, 17)), rng.standard_normal((4, 3, 3))
x2 = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
w2 = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
b2 = rng.standard_normal(6).astype(np.float32)
x3, w3 = rng.standard_normal((1, 2, 5, 6, 4)), rng.standard_normal((3, 2, 2, 3, 2))
dy = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
cols = convinit.unfold(x2, 3, padding=1)
img, ker = rng.standard_normal((12, 10)), rng.standard_normal((3, 4))
target = np.empty((16, 8, 3, 3), np.float32)
gen = convinit.Generator(3)
kernels = {
    "conv1d": lambda: convinit.conv1d(x1, w1, padding="same", threads=1),
    "conv2d": lambda: convinit.conv2d(x2, w2, b2, padding=1, groups=2, padding_mode="circular", threads=1),
    "conv3d": lambda: convinit.conv3d(x3, w3, padding=1, dilation=(1, 2, 1), threads=1),
    "conv2d_backward": lambda: convinit.conv2d_backward(x2, w2, dy, padding=1, groups=2, threads=1),
    "conv_transpose2d": lambda: convinit.conv_transpose2d(dy, w2, stride=2, threads=1),
    "unfold": lambda: convinit.unfold(x2, 3, padding=1, threads=1),
    "fold": lambda: convinit.fold(cols, (9, 8), 3, padding=1, threads=1),
    "correlate2d": lambda: convinit.correlate2d(img, ker, "same", "symm", threads=1),
    "uniform_": lambda: init.uniform_(target, -1, 1, seed=1),
    "normal": lambda: init.normal((300,), seed=1),
    "trunc_normal": lambda: init.trunc_normal((300,), seed=1, dtype="float64"),
    "xavier_uniform_": lambda: init.xavier_uniform_(target, generator=gen),
    "kaiming_normal": lambda: init.kaiming_normal((16, 8, 3, 3), generator=gen),
    "orthogonal": lambda: init.orthogonal((12, 20), seed=2),
    "sparse": lambda: init.sparse((20, 10), 0.3, seed=2),
    "Generator": lambda: (gen.uniform(size=50), gen.normal(size=50), gen.random_raw(64)),
}
report = {}
for name, call in kernels.items():
    for _ in range(CALLS // 10):
        call()
    before = rss_kib()
    for _ in range(CALLS):
        call()
    report[name] = [before, rss_kib()]
print(json.dumps(report))
"""


def test_rss_is_stable_over_many_calls():
    done = subprocess.run([sys.executable, "-c", CHILD, str(CALLS)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    print()
    for name, (before, after) in report.items():
        print(f"  {name:18s} RSS {before / 1024:7.1f} MiB -> {after / 1024:7.1f} MiB ({after - before:+d} KiB)")
    grown = {n: a - b for n, (b, a) in report.items() if a - b > MAX_GROWTH_KIB}
    assert not grown, f"RSS grew by more than {MAX_GROWTH_KIB} KiB over {CALLS} calls: {grown}"


def test_ctrl_c_stops_verify_cleanly():
    """SIGINT (as Ctrl-C sends) during ``convinit verify --full``: exit status
    130 within a few seconds, a one-line message, no traceback."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Through a shim that restores SIGINT's default action before exec: a
    # test run started in the background of a non-interactive shell inherits
    # SIGINT ignored, and Python then (rightly) installs no Ctrl-C handler.
    command = [sys.executable, "-m", "convinit.cli", "verify", "--full"]
    shim = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execv(sys.argv[1], sys.argv[1:])")
    verify = subprocess.Popen([sys.executable, "-c", shim, *command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        verify.stdout.readline()  # the run's description: main() is running
        time.sleep(3)
        assert verify.poll() is None, "verify --full finished before it could be interrupted"
        verify.send_signal(signal.SIGINT)
        sent = time.perf_counter()
        out, err = verify.communicate(timeout=30)
        waited = time.perf_counter() - sent
    finally:
        if verify.poll() is None:
            verify.kill()
            verify.wait()
    assert verify.returncode == 130, (verify.returncode, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    assert "interrupted" in err
    assert waited < 10, f"took {waited:.1f} s to stop"


def test_interrupts_held_during_an_import_raise_after_it():
    """Ctrl-C during torch's import is held (raising inside pybind11 code
    aborted the process) and raised as KeyboardInterrupt once it is done."""
    from convinit._imports import interrupts_held

    # A test run in the background of a non-interactive shell inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    finished = False
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Python runs signal handlers between bytecodes: here, not later
            finished = True
    except KeyboardInterrupt:
        assert finished, "the interrupt broke into the held block"
    else:
        raise AssertionError("the held interrupt was dropped")
    finally:
        restored = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
    assert restored is signal.default_int_handler
