"""A one-page, self-contained HTML report of a runs table (``perflaw report``).

:func:`build_report` does the work through the public API -- the log's quality
(:func:`perflaw.measure`), the law (:class:`perflaw.LawFitter`, its form chosen by a
backtest), the backtest against the plain baselines (:func:`perflaw.backtest`), the
decision (:func:`perflaw.recommend`) -- and keeps the figures (:mod:`perflaw.plot`) with
a one-line reading of each; :func:`render_html` lays it out, decision first, figures
embedded as PNG (no network at view time); :func:`write_report` writes it atomically.

Examples
--------
>>> from perflaw.report import build_report, render_html
>>> report = build_report("data/ml-latest-small-sweep.csv", metric="ndcg@10",
...                       where="data_fraction==1")  # doctest: +SKIP
>>> html = render_html(report)  # doctest: +SKIP
"""

from perflaw.report.build import Figure, Report, build_report
from perflaw.report.html import render_html, write_report

__all__ = ["Figure", "Report", "build_report", "render_html", "write_report"]
