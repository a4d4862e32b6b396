"""The report's aggregate figures (no patient images), as ``data:image/png;base64,...`` URIs.

matplotlib with the Agg backend, imported here only. Every function returns None when it has
nothing to draw, so the template can leave the figure out.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from fastxai.report import wording as W


def plt():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def to_uri(fig: Any, dpi: int = 80) -> str:
    """Render and close a figure; returns a base64 PNG data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def group_bars(values: Dict[str, Dict[str, tuple]], title: str, ylabel: str, min_n: int = 0) -> Optional[str]:
    """values: method -> group -> (value, ci_low, ci_high, n). Grouped bars, CI whiskers; a group
    with fewer than ``min_n`` samples for a method gets no bar (too small to measure)."""
    values = {m: {g: x for g, x in v.items() if len(x) < 4 or x[3] >= min_n} for m, v in values.items()}
    methods = list(values)
    groups = sorted({g for v in values.values() for g in v})
    if not methods or not groups:
        return None
    p = plt()
    fig, ax = p.subplots(figsize=(max(5.0, 0.9 * len(methods) * max(1, len(groups)) * 0.45 + 2), 3.2))
    width = 0.8 / len(groups)
    x = np.arange(len(methods))
    for j, g in enumerate(groups):
        v = np.array([values[m].get(g, (np.nan,) * 3)[0] for m in methods], dtype=float)
        lo = np.array([values[m].get(g, (np.nan,) * 3)[1] for m in methods], dtype=float)
        hi = np.array([values[m].get(g, (np.nan,) * 3)[2] for m in methods], dtype=float)
        err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.bar(x + (j - (len(groups) - 1) / 2) * width, np.nan_to_num(v), width, yerr=err, capsize=2, label=g)
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=min(4, len(groups)))
    return to_uri(fig)


def curves(df: Any, model: str) -> Optional[str]:
    """Mean deletion and insertion curves per method (one panel each); df: the run's curves()."""
    if not len(df):
        return None
    d = df[df["model"] == model]
    kinds = [k for k in ("deletion", "insertion") if k in set(d["curve"])]
    if not kinds:
        return None
    p = plt()
    fig, axes = p.subplots(1, len(kinds), figsize=(5 * len(kinds), 3.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        dk = d[d["curve"] == kind]
        for meth, g in dk.groupby("method", sort=False):
            m = g.groupby("step")["value"].mean()
            steps = m.index.to_numpy(dtype=float)
            frac = steps / steps.max() if steps.max() > 0 else steps
            ax.plot(frac, m.to_numpy(), label=str(meth), lw=1.2, ls="--" if str(meth).startswith("baseline:") else "-")
        ax.set_title(f"{kind} ({'lower' if kind == 'deletion' else 'higher'} area is better)", fontsize=10)
        ax.set_xlabel("fraction of pixels " + ("removed" if kind == "deletion" else "inserted"))
        ax.set_ylabel("model score (mean)")
    axes[0][-1].legend(fontsize=7)
    return to_uri(fig)


def reliability(y: np.ndarray, score: np.ndarray, groups: np.ndarray, feature: str, n_bins: int = 10,
                label: str = "") -> Optional[str]:
    """Reliability diagram, one line per group: observed positive rate vs mean score per bin.
    y, score, groups: (N,); ``label`` (e.g. the class) is added to the title."""
    ok = np.isfinite(y) & np.isfinite(score)
    if ok.sum() < 2:
        return None
    p = plt()
    fig, ax = p.subplots(figsize=(4.2, 3.6))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    edges = np.linspace(0, 1, n_bins + 1)
    for g in sorted({str(v) for v in groups[ok]}):
        sel = ok & (groups.astype(str) == g)
        b = np.clip(np.digitize(score[sel], edges[1:-1]), 0, n_bins - 1)
        cnt = np.bincount(b, minlength=n_bins)
        conf = np.bincount(b, weights=score[sel], minlength=n_bins)
        acc = np.bincount(b, weights=y[sel], minlength=n_bins)
        keep = cnt > 0
        ax.plot(conf[keep] / cnt[keep], acc[keep] / cnt[keep], marker="o", ms=3, label=f"{g} (n={int(sel.sum())})")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"reliability by {feature}" + (f", {label}" if label else ""), fontsize=10)
    ax.legend(fontsize=7)
    return to_uri(fig)


def timing(rows: List[Dict[str, Any]]) -> Optional[str]:
    """rows: {method, stage, per_image, floor_per_image}. Horizontal bars per method × stage."""
    if not rows:
        return None
    p = plt()
    labels = [f"{r['method']} · {r['stage']}" for r in rows]
    fig, ax = p.subplots(figsize=(6.5, 0.3 * len(rows) + 1.2))
    y = np.arange(len(rows))
    ax.barh(y, [r["per_image"] * 1e3 for r in rows], color="#4c72b0", label="measured")
    fl = [r.get("floor_per_image") for r in rows]
    if any(f is not None and np.isfinite(f) for f in fl):
        ax.scatter([(f or np.nan) * 1e3 for f in fl], y, color="#dd8452", marker="|", s=200, label="model-forward floor")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds per image")
    ax.legend(fontsize=7)
    return to_uri(fig)


def border_bars(shares: Dict[str, np.ndarray], groups: np.ndarray, feature: str, band: float) -> Optional[str]:
    """Mean border share per method and group (the figure behind the border findings)."""
    vals: Dict[str, Dict[str, tuple]] = {}
    for meth, s in shares.items():
        vals[meth] = {}
        for g in sorted({str(v) for v in groups if v is not None}):
            sel = np.array([v is not None and str(v) == g for v in groups]) & np.isfinite(s)
            if sel.any():
                vals[meth][g] = (float(s[sel].mean()), np.nan, np.nan, int(sel.sum()))
    return group_bars(vals, f"share of positive attribution on the outer {round(100 * band)} % band, by {feature}",
                      W.metric_label("border_share"))


def names(values: Sequence[Any]) -> List[str]:
    """Strings for group levels (None -> '(missing)')."""
    return ["(missing)" if v is None else str(v) for v in values]
