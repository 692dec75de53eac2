"""Reports: JSON with every check's record, and a self-contained HTML page
(table plus matplotlib PNGs embedded as base64: histogram vs pdf and QQ plot
per distribution, relative errors against tolerances for convolution)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .records import Check

SCHEMA = "convinit-verify/1"
FLOOR = 1e-18   # where zero errors sit on a log axis


def write_json(path: str, meta: dict, checks: Sequence[Check]) -> str:
    document = {"schema": SCHEMA, **meta, "checks": [c.record() for c in checks]}
    Path(path).write_text(json.dumps(document, indent=1, allow_nan=False))
    return path


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def distribution_figure(check: Check) -> str:
    from matplotlib.figure import Figure

    sample, dist = np.sort(check.plot["sample"]), check.plot["dist"]
    figure = Figure(figsize=(9, 3.2))
    hist, qq = figure.subplots(1, 2)
    hist.hist(sample, bins=80, density=True, color="#9ab", label="sample")
    grid = np.linspace(sample[0], sample[-1], 400)
    hist.plot(grid, dist.pdf(grid), color="#c33", label="reference pdf")
    hist.set_title(check.plot["title"], fontsize=9)
    hist.legend(fontsize=8)
    picks = np.linspace(0, sample.size - 1, min(sample.size, 2000)).astype(int)
    theoretical = dist.ppf((picks + 0.5) / sample.size)
    qq.plot(theoretical, sample[picks], ".", markersize=2, color="#247")
    qq.plot(theoretical, theoretical, color="#c33", linewidth=1)
    qq.set_xlabel("reference quantile")
    qq.set_ylabel("sample quantile")
    qq.set_title("QQ plot", fontsize=9)
    return _png(figure)


def conv_figure(checks: Sequence[Check], dtype: str) -> str:
    from matplotlib.figure import Figure

    errors = [max(c.value, FLOOR) if np.isfinite(c.value) else 1.0 for c in checks]
    figure = Figure(figsize=(9, 0.22 * len(checks) + 1.2))
    axes = figure.subplots()
    rows = np.arange(len(checks))
    axes.barh(rows, errors, color=["#4a4" if c.passed else "#c33" for c in checks], left=FLOOR)
    axes.axvline(checks[0].tolerance, color="#333", linestyle="--", label=f"tolerance {checks[0].tolerance:g}")
    axes.set_xscale("log")
    axes.set_yticks(rows, [c.name for c in checks], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlabel("max|got - ref| / max|ref|")
    axes.set_title(f"convolution, {dtype}: relative max error vs float64 reference", fontsize=9)
    axes.legend(fontsize=8)
    return _png(figure)


def figures(checks: Sequence[Check]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for every plot the checks carry."""
    out = []
    conv = [c for c in checks if c.plot and c.plot["kind"] == "conv-error"]
    for dtype in sorted({c.plot["dtype"] for c in conv}):
        out.append((f"conv {dtype}", conv_figure([c for c in conv if c.plot["dtype"] == dtype], dtype)))
    for check in checks:
        if check.plot and check.plot["kind"] == "distribution":
            out.append((check.plot["title"], distribution_figure(check)))
        if check.plot and check.plot["kind"] == "variance-curve":
            from ..experiments.variance import figure

            out.append((check.plot["title"], _png(figure(check.plot["result"]))))
    return out


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>convinit verify: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; font-size: 12px; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; }}
.PASS {{ color: #080; }} .FAIL {{ color: #c00; font-weight: bold; }} .SKIP {{ color: #a80; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>convinit verify: {title}</h1>
<p>{summary}</p>
<ul>{meta}</ul>
<h2>Plots</h2>
{figures}
<h2>Checks</h2>
<table><tr><th>suite</th><th>check</th><th>reference</th><th>metric</th><th>value</th><th>tolerance</th>
<th>smallest detectable effect</th><th>result</th><th>detail</th></tr>
{rows}
</table></body></html>
"""


def write_html(path: str, meta: dict, checks: Sequence[Check]) -> str:
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{e(c.suite)}</td><td>{e(c.name)}</td><td>{e(c.reference)}</td><td>{e(c.metric)}</td>"
        f"<td>{c.value:.4g}</td><td>{e(c.comparison)} {c.tolerance:.3g}</td><td>{e(c.detectable)}</td>"
        f"<td class='{c.status}'>{c.status}</td><td>{e(c.detail)}</td></tr>" for c in checks)
    shown = "\n".join(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{png}'>"
                      f"<figcaption>{e(caption)}</figcaption></figure>" for caption, png in figures(checks))
    items = "".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in meta.items())
    summary = f"{meta['passed']} passed, {meta['failed']} failed, {meta['skipped']} skipped"
    Path(path).write_text(PAGE.format(title=e(str(meta["backend"])), summary=summary, meta=items, figures=shown,
                                      rows=rows))
    return path
