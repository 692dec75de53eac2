"""The convinit command line."""

from __future__ import annotations

import subprocess
import sys

import convinit


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convinit.cli", *args], capture_output=True, text=True)


def test_version():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"convinit {convinit.__version__}"


def test_demo_passes_and_reports_each_check():
    out = run("demo")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("PASS") == 5
    assert out.stdout.strip().splitlines()[-1] == "5 passed, 0 failed"


def test_unknown_command_is_a_usage_error():
    out = run("frobnicate")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr
