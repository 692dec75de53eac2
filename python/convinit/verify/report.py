"""Reports: JSON with every check's record, and a self-contained HTML page
(table plus matplotlib PNGs embedded as base64: histogram vs pdf and the quantile deviation with acceptance bands
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


def quantile_bands(check: Check) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deviation of the sample quantiles from the reference's (in reference
    std) and two acceptance bands at the run's per-test alpha: the KS test's
    (the reference CDF shifted by its critical distance, as quantiles) and the
    std z-test's (the quantiles of a std ratio at its critical value)."""
    from scipy import stats as sps

    from .stats import standardized_moments

    plot, dist = check.plot, check.plot["dist"]
    p, n, alpha = plot["probabilities"], plot["n"], plot["alpha"]
    centre, scale, reference = float(dist.mean()), float(dist.std()), dist.ppf(p)
    deviation = (plot["quantiles"] - reference) / scale
    d = float(sps.kstwobign.isf(alpha)) / np.sqrt(n)
    ks = np.stack([dist.ppf(np.clip(p - d, 1e-12, 1)), dist.ppf(np.clip(p + d, 0, 1 - 1e-12))])
    ks = (ks - reference) / scale
    ratio_se = np.sqrt((standardized_moments(dist)[0] - 1) / n)
    spread = np.sqrt(1 + float(sps.norm.isf(alpha / 2)) * ratio_se) - 1    # std ratio - 1 at the critical value
    funnel = spread * np.abs(reference - centre) / scale
    return p, deviation, ks, funnel


def distribution_figure(check: Check) -> str:
    from matplotlib.figure import Figure

    sample, dist = np.sort(check.plot["sample"]), check.plot["dist"]
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    hist, dev = figure.subplots(1, 2)
    hist.hist(sample, bins=80, density=True, color="#9ab", label="sample")
    grid = np.linspace(sample[0], sample[-1], 400)
    hist.plot(grid, dist.pdf(grid), color="#c33", label="reference pdf")
    hist.set_title(check.plot["title"], fontsize=8)
    hist.legend(fontsize=7)
    p, deviation, ks, funnel = quantile_bands(check)
    z = (dist.ppf(p) - float(dist.mean())) / float(dist.std())    # reference quantiles, in std
    dev.fill_between(z, ks[0], ks[1], color="#cde", label="KS acceptance band")
    dev.plot(z, funnel, color="#555", linewidth=0.8, linestyle="--", label="std test acceptance")
    dev.plot(z, -funnel, color="#555", linewidth=0.8, linestyle="--")
    dev.plot(z, deviation, color="#c33" if check.plot.get("failed") else "#247", linewidth=1.2,
             label="sample - reference quantile")
    dev.axhline(0, color="#333", linewidth=0.5)
    middle = slice(25, -25)
    limit = 1.3 * max(float(np.max(np.abs(deviation[middle]))), float(np.max(funnel[middle])),
                      float(np.max(np.abs(ks[:, 250:-250]))), 1e-12)
    dev.set_ylim(-limit, limit)
    dev.set_xlabel("reference quantile (std from the mean)")
    dev.set_ylabel("deviation / reference std")
    dev.set_title(f"quantile deviation, n={check.plot['n']}, bands at alpha {check.plot['alpha']:.2g}", fontsize=8)
    dev.legend(fontsize=7)
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
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>convinit verify: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; text-align: left; }}
th {{ background: #f3f3f3; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.PASS {{ color: #080; }} .FAIL {{ color: #c00; font-weight: bold; }} .SKIP {{ color: #a80; }}
.verdict {{ font-size: 1.6em; padding: 0.4em 0.8em; border-radius: 6px; display: inline-block; }}
.verdict.ok {{ background: #e6f4e6; color: #070; }} .verdict.bad {{ background: #fbe3e3; color: #b00; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; height: auto; }}
details {{ margin: 1em 0; }} .scroll {{ max-height: 24em; overflow-y: auto; border: 1px solid #ddd; }}
summary {{ cursor: pointer; font-weight: bold; }}
</style></head><body>
<h1>convinit verify: {title}</h1>
<p class="verdict {verdict_class}">{verdict}: {summary}</p>
<p>{run}</p>
<h2>By suite</h2>
<table><tr><th>suite</th><th>passed</th><th>failed</th><th>skipped</th><th>seconds</th></tr>
{suite_rows}
</table>
{failures}
<h2>Plots</h2>
{figures}
<details><summary>All {count} checks</summary>
<table><tr><th>suite</th><th>check</th><th>reference</th><th>metric</th><th>value</th><th>tolerance</th>
<th>smallest detectable effect</th><th>result</th><th>detail</th></tr>
{rows}
</table></details>
<details><summary>Run metadata</summary><table>{meta}</table></details>
</body></html>
"""


def _row(c: Check, e) -> str:
    return (f"<tr><td>{e(c.suite)}</td><td>{e(c.name)}</td><td>{e(c.reference)}</td><td>{e(c.metric)}</td>"
            f"<td class='num'>{c.value:.4g}</td><td class='num'>{e(c.comparison)} {c.tolerance:.3g}</td>"
            f"<td>{e(c.detectable)}</td><td class='{c.status}'>{c.status}</td><td>{e(c.detail)}</td></tr>")


def _suite_rows(checks: Sequence[Check]) -> str:
    suites: dict[str, list[Check]] = {}
    for c in checks:
        suites.setdefault(c.suite or "-", []).append(c)
    rows = []
    for suite, group in suites.items():
        statuses = [c.status for c in group]
        failed = statuses.count("FAIL")
        rows.append(f"<tr><td>{html.escape(suite)}</td><td class='num PASS'>{statuses.count('PASS')}</td>"
                    f"<td class='num {'FAIL' if failed else ''}'>{failed}</td>"
                    f"<td class='num'>{statuses.count('SKIP')}</td>"
                    f"<td class='num'>{sum(c.seconds for c in group):.1f}</td></tr>")
    return "\n".join(rows)


def write_html(path: str, meta: dict, checks: Sequence[Check]) -> str:
    """Verdict and per-suite counts first, then the failed checks (linked to
    their plots), the plots, and every check and the metadata folded away."""
    e = html.escape
    failed = [c for c in checks if c.status == "FAIL"]
    plots = figures(checks)
    shown = "\n".join(f"<figure id='plot-{i}'><img alt='{e(caption)}' src='data:image/png;base64,{png}'>"
                       f"<figcaption>{e(caption)}</figcaption></figure>" for i, (caption, png) in enumerate(plots))
    captions = {caption: i for i, (caption, _) in enumerate(plots)}

    def linked(c: Check) -> str:
        title = c.name.split(": ")[0]
        conv = f"conv {c.plot['dtype']}" if c.plot and c.plot.get("kind") == "conv-error" else None
        target = captions.get(title, captions.get(conv))
        return _row(c, e) if target is None else _row(c, e).replace(
            f"<td>{e(c.name)}</td>", f"<td><a href='#plot-{target}'>{e(c.name)}</a></td>", 1)

    failures = (f"<h2>Failures ({len(failed)})</h2><div class='scroll'><table><tr><th>suite</th><th>check</th>"
                "<th>reference</th><th>metric</th>"
                "<th>value</th><th>tolerance</th><th>smallest detectable effect</th><th>result</th><th>detail</th></tr>"
                + "\n".join(linked(c) for c in failed) + "</table></div>") if failed else ""
    summary = f"{meta['passed']} passed, {meta['failed']} failed, {meta['skipped']} skipped"
    run = (f"backend {e(str(meta.get('backend_description', meta['backend'])))}; {e(str(meta.get('mode')))} run, "
           f"seed {e(str(meta.get('seed')))}; family-wise false-alarm rate 1e-6 over "
           f"{e(str(meta.get('statistical_tests')))} statistical tests (per-test alpha "
           f"{float(meta.get('per_test_alpha', 0)):.3g})")
    items = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in meta.items())
    Path(path).write_text(PAGE.format(
        title=e(str(meta["backend"])), verdict="FAILED" if failed else "PASSED",
        verdict_class="bad" if failed else "ok", summary=summary, run=run, suite_rows=_suite_rows(checks),
        failures=failures, figures=shown, count=len(checks), rows="\n".join(_row(c, e) for c in checks),
        meta=items))
    return path
