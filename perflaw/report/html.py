"""The report as one self-contained HTML page: decision first, figures as inline PNG."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.report.build import Figure, Report

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:980px;
margin:2em auto;padding:0 1em;color:#1d2330;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:1px solid #dde;padding-bottom:.2em}
.source{color:#667;font-size:.9em;margin-top:0}
.decision{background:#eef5ff;border-left:5px solid #2b6cd4;padding:.8em 1.1em;
margin:1.2em 0;border-radius:4px}.decision p:first-child{font-size:1.1em;font-weight:600}
.decision p{margin:.4em 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1.2em;margin:1em 0}
dl.facts dt{color:#556}dl.facts dd{margin:0}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.95em;color:#334}figcaption b{color:#1d2330}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border-bottom:1px solid #e4e6ee;padding:.25em .6em;text-align:right}
th{background:#f6f7fb}td:first-child,th:first-child{text-align:left}
.warnings{font-size:.85em;color:#6a4b00;background:#fff8e6;padding:.6em 1em;
border-radius:4px}.warnings li{margin:.2em 0}
footer{margin-top:2em;font-size:.8em;color:#889}
"""


def _e(text) -> str:
    return html.escape(str(text))


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if not np.isfinite(x):
            return ""
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    return _e(v)


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(fig.alt or fig.title)}">'
        f"<figcaption><b>{_e(fig.title)}.</b> {_e(fig.reading)}</figcaption></figure>"
    )


def render_html(report: Report) -> str:
    """The page as a string (no external resource: styles inline, figures as data URIs)."""
    from perflaw import __version__

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="source">runs: {_e(report.source)}</p>',
    ]
    decision = report.sections.get("Decision", [report.decision])
    out.append('<section class="decision" id="decision">')
    out += [f"<p>{_e(line)}</p>" for line in decision]
    out.append("</section>")
    out.append('<dl class="facts">')
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in report.facts]
    out.append("</dl>")
    if "Best configurations by the law" in report.tables:
        out.append(
            "<p>The best configurations by the law (p_best: share of predictive draws "
            "in which it is the best):</p>"
        )
        out.append(_table(report.tables["Best configurations by the law"]))
    order = [
        ("Law", "The law", ["Law"]),
        ("Backtest", "Backtest against the plain baselines", ["Backtest (rolling origin)"]),
        ("Data quality", "The data", []),
    ]
    for key, heading, tables in order:
        if key not in report.sections and key not in report.figures:
            continue
        out.append(f'<h2 id="{_e(key.lower().replace(" ", "-"))}">{_e(heading)}</h2>')
        out += [f"<p>{_e(p)}</p>" for p in report.sections.get(key, [])]
        out += [_figure(f) for f in report.figures.get(key, [])]
        out += [_table(report.tables[t]) for t in tables if t in report.tables]
    if report.warnings:
        out.append('<h2 id="warnings">Warnings</h2><ul class="warnings">')
        out += [f"<li>{_e(w)}</li>" for w in report.warnings]
        out.append("</ul>")
    out.append(f"<footer>perflaw {_e(__version__)}</footer></body></html>")
    return "\n".join(out)


def write_report(report: Report, path, inputs=()) -> Path:
    """Write the page atomically (never over one of ``inputs``); returns the path."""
    from perflaw.files import atomic_path, check_output

    check_output(path, inputs, option="--out")
    with atomic_path(path, inputs, option="--out") as tmp:
        Path(tmp).write_text(render_html(report), encoding="utf-8")
    return Path(path)
