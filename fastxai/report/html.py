"""HTML rendering: Jinja2 with autoescaping always on, templates shipped as package data.

Every string that comes from data or config reaches the page through ``{{ ... }}`` and is escaped;
figures are ``data:`` URIs made here (base64 PNG), so the page has no external reference at all.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np

from fastxai.report.tables import Table


def environment():
    """The Jinja2 environment (autoescape on for every template, undefined names fail loudly)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("fastxai.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env


def render(template: str, context: Dict[str, Any]) -> str:
    """Render one template of fastxai/report/templates with ``context``."""
    return environment().get_template(template).render(**context)


def cell(v: Any) -> str:
    """A DataFrame value as table text: floats to 3 significant decimals, NaN as 'n/a'."""
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            return "n/a"
        return f"{float(v):.3g}" if abs(float(v)) < 1000 else f"{float(v):.0f}"
    return str(v)


def df_table(df: Any, tid: str, caption: str, note: str = "", index: bool = False) -> Table:
    """A pandas DataFrame as a Table (index as the first column if ``index``)."""
    d = df.reset_index() if index else df
    cols = [str(c) for c in d.columns]
    rows = [[cell(v) for v in r] for r in d.itertuples(index=False)]
    return Table(tid, caption, cols, rows, [""] * len(rows), note)
