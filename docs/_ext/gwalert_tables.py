"""Sphinx directives generated from the code at build time:

``.. gwalert-schema::``
    every table of the store, from the SQLAlchemy ``Table`` objects in ``gwalert.store.*``
    (columns, types, NULL, keys, unique constraints and indexes), headed by the first paragraph
    of the docstring of the module that owns it;
``.. gwalert-metrics:: listen|dashboard``
    the Prometheus metrics: ``listen``/``respond``'s (``gwalert/metrics.py``, read from the
    calls that declare them) or the dashboard's ``/metrics`` (the families that
    ``gwalert.metrics.store_families`` builds).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

STORE_MODULES = ["notices", "arrivals", "feeds", "ledger", "marks"]


def _escape(text: str) -> str:
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text if text else " "


def _list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(cell)}" for cell in row[1:]]
    return lines + [""]


def schema_lines() -> list[str]:
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    lines: list[str] = []
    for name in STORE_MODULES:
        module = importlib.import_module(f"gwalert.store.{name}")
        doc = inspect.getdoc(module) or ""
        first = doc.split("\n\n")[0]
        tables = [
            t
            for md in vars(module).values()
            if isinstance(md, sa.MetaData)
            for t in md.tables.values()
        ]
        for table in tables:
            title = f"``{table.name}``"
            lines += [title, "-" * len(title), ""]
            lines += [f"Defined in ``gwalert.store.{name}``: {_escape(first)}", ""]
            rows = []
            for col in table.columns:
                keys = []
                if col.primary_key:
                    keys.append("primary key")
                if col.index:
                    keys.append("indexed")
                rows.append(
                    [
                        f"``{col.name}``",
                        f"``{col.type.compile(dialect=sqlite.dialect())}``",
                        "yes" if col.nullable and not col.primary_key else "no",
                        ", ".join(keys),
                    ]
                )
            lines += _list_table(["column", "type (SQLite)", "NULL", "key"], rows, "25 25 10 40")
            for c in table.constraints:
                if isinstance(c, sa.UniqueConstraint) and c.columns:
                    cols = ", ".join(f"``{col.name}``" for col in c.columns)
                    lines += [f"Unique together: {cols}.", ""]
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                if len(index.columns) > 1:
                    cols = ", ".join(f"``{col.name}``" for col in index.columns)
                    lines += [f"Index ``{index.name}`` on {cols}.", ""]
    return lines


def _metric_calls(source: str) -> list[tuple[str, str, str, list[str]]]:
    """(name, kind, help, labels) of each Histogram/…MetricFamily call with literal names."""
    kinds = {
        "Histogram": "histogram",
        "Counter": "counter",
        "Gauge": "gauge",
        "CounterMetricFamily": "counter",
        "GaugeMetricFamily": "gauge",
        "HistogramMetricFamily": "histogram",
    }
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in kinds or len(node.args) < 2:
            continue
        try:
            metric, text = ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])
        except ValueError:
            continue
        labels: list[str] = []
        for kw in node.keywords:
            if kw.arg == "labels":
                labels = list(ast.literal_eval(kw.value))
        if len(node.args) > 2 and isinstance(node.args[2], ast.List | ast.Tuple):
            labels = list(ast.literal_eval(node.args[2]))
        if kinds[name] == "counter":
            metric += "_total"  # prometheus_client appends it to counters
        out.append((metric, kinds[name], text, labels))
    return out


def _dashboard_metrics() -> list[tuple[str, str, str, list[str]]]:
    """What the dashboard's ``/metrics`` serves: the families
    :func:`gwalert.metrics.store_families` builds (called on a store with one feed)."""
    from gwalert.metrics import store_families

    counts = {"notices": 0, "superevents": 0, "dead_letters": 0, "duplicates": 0, "actions": {}}
    feed = {"feed": "FEED", "seconds_since_last_message": 0.0, "seconds_since_last_heartbeat": 0.0}
    out = []
    for fam in store_families(counts, [feed]):
        labels = sorted({k for sample in fam.samples for k in sample.labels})
        out.append((fam.name, fam.type, fam.documentation, labels))
    return out


def metrics_lines(which: str) -> list[str]:
    if which == "dashboard":
        found = _dashboard_metrics()
    else:
        module = importlib.import_module("gwalert.metrics")
        found = _metric_calls(inspect.getsource(module))
    rows = [
        [f"``{n}``", kind, ", ".join(f"``{label}``" for label in labs), _escape(text)]
        for n, kind, text, labs in found
    ]
    return _list_table(["metric", "type", "labels", "meaning"], rows, "30 10 15 45")


class GwalertSchema(SphinxDirective):
    has_content = False

    def run(self) -> list[Any]:
        return self._parse(schema_lines())

    def _parse(self, lines: list[str]) -> list[Any]:
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=self.name), node)
        return node.children


class GwalertMetrics(GwalertSchema):
    required_arguments = 1

    def run(self) -> list[Any]:
        return self._parse(metrics_lines(self.arguments[0]))


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("gwalert-schema", GwalertSchema)
    app.add_directive("gwalert-metrics", GwalertMetrics)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
