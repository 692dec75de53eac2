"""`convinit verify`'s tables fit the terminal: one line per row at 80 and
200 columns (``COLUMNS``), names cut with an ellipsis, never wrapped."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from convinit.verify.records import FAIL, PASS, Check
from convinit.verify.runner import results_table
from convinit.verify.selftest import Outcome, outcome_table
from convinit.verify.terminal import Column, fit_widths, shorten, terminal_width

LONG = "kaiming_normal[(32,16,3,5)-fan_out-leaky_relu-a=2.236-float32]: scale (z-test (std))"


def check(name: str, status: str = PASS) -> Check:
    return Check(name, "N(0, 0.0632962^2) from torch.nn.init.kaiming_normal_", "p-value", 0.0729, 1.19e-9, status,
                 ">=", detectable="detects a std error >= 3.31%")


CHECKS = [check(LONG), check(LONG.replace("kaiming_normal", "kaiming_uniform"), FAIL), check("conv2d x(2,3,7,9) short")]


def rendered(renderable, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue().splitlines()


def row_lines(lines: list[str], names: list[str]) -> list[list[str]]:
    """For each name, the output lines holding its first 30 characters."""
    return [[line for line in lines if name[:30] in line] for name in names]


@pytest.mark.parametrize("width", [80, 120, 200])
def test_result_rows_are_single_lines_within_the_width(width):
    lines = rendered(results_table(CHECKS, "suite init", width), width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    for found in row_lines(lines, [c.name for c in CHECKS]):
        assert len(found) == 1, "\n".join(lines)
    assert sum(" FAIL" in line for line in lines) == 1 and sum(" PASS" in line for line in lines) == 2


def test_narrow_table_cuts_names_and_says_what_it_left_out():
    lines = rendered(results_table(CHECKS, "", 80), 80)
    text = "\n".join(lines)
    assert LONG not in text and LONG[:30] in text and "…" in text
    assert "left out to fit 80 columns: reference, detects" in text
    assert "1.19e-09" in text and "0.0729" in text       # numbers are never cut


def test_wide_table_shows_every_field_in_full():
    text = "\n".join(rendered(results_table(CHECKS, "", 200), 200))
    assert LONG in text and "from torch.nn.init.kaiming_normal_" in text and "a std error >= 3.31%" in text
    assert "…" not in text and "left out" not in text


@pytest.mark.parametrize("width", [80, 200])
def test_self_test_rows_are_single_lines(width):
    failed = [check(LONG, FAIL)] * 4
    outcomes = [Outcome("mutant: kaiming_normal with conv_transpose3d's gain for leaky_relu(2.236)",
                        "draws with the gain of another nonlinearity, 15% or more away", failed, True),
                Outcome("correct: convinit", "none", [check("short")], False)]
    lines = rendered(outcome_table(outcomes, width), width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    for found in row_lines(lines, [o.implementation for o in outcomes]):
        assert len(found) == 1, "\n".join(lines)


def test_fit_widths_shrinks_lowest_priority_first_then_leaves_out():
    columns = [Column("name", 20, 3, keep=True), Column("ref", 10, 1), Column("note", 8, 0), Column("n")]
    natural = [50, 30, 30, 5]
    assert fit_widths(columns, natural, 500) == {0: 50, 1: 30, 2: 30, 3: 5}
    # 115 + 6 (three gaps of two) = 121; 100 available: the note loses 21 first
    assert fit_widths(columns, natural, 100) == {0: 50, 1: 30, 2: 9, 3: 5}
    assert fit_widths(columns, natural, 80) == {0: 50, 1: 11, 2: 8, 3: 5}
    assert fit_widths(columns, natural, 60) == {0: 31, 1: 10, 2: 8, 3: 5}
    # below every minimum: the note goes, then the reference; the name takes the rest
    assert fit_widths(columns, natural, 40) == {0: 21, 1: 10, 3: 5}
    assert fit_widths(columns, natural, 30) == {0: 23, 3: 5}
    assert fit_widths(columns, natural, 10) == {0: 3, 3: 5}


def test_shorten():
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abcdef", 1) == "…"
    assert shorten("abcdef", 0) == ""


def test_width_comes_from_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "93")
    assert terminal_width() == 93


@pytest.mark.parametrize("width", [80, 200])
def test_cli_verbose_and_failure_rows_fit_columns(tmp_path, width):
    """The CLI end to end with COLUMNS set: -v rows and the FAILED table."""
    (tmp_path / "flipped.py").write_text(
        "import numpy as np\nimport convinit\n\n"
        "def conv2d(input, weight, *args, **kwargs):\n"
        "    return convinit.conv2d(input, np.ascontiguousarray(np.asarray(weight)[..., ::-1, ::-1]), *args, **kwargs)\n")
    env = {**os.environ, "COLUMNS": str(width),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "convinit.cli", "verify", "conv", "--quick", "-v", "--backend",
                          "flipped:conv2d", "-k", "conv2d x(2"], capture_output=True, text=True, env=env)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    table_rows = [line for line in lines if line.rstrip().endswith(("PASS", "FAIL"))]
    assert len(table_rows) >= 4
    assert all(len(line) <= width for line in table_rows), "\n".join(table_rows)
    rerun = [line for line in lines if line.startswith("rerun one: convinit verify --backend flipped:conv2d")]
    assert len(rerun) == 1       # one line, however long: it is meant to be pasted
    assert lines[-1].endswith("failed")
