"""``build_report(run)``: one self-contained HTML file from a bench run.

Order of the page: findings (plain words, each linked to its numbers) → dataset audit → per
model: tables (method × metric with the baselines beside every method, method × group with gaps,
classifier by group), pictures (overlays with boxes and a colour bar — left out with
``include_images=False`` —, per-group bars with CI whiskers, deletion / insertion curves,
reliability diagrams, attribution on the border), timing (engine vs the model-forward floor) →
method cards → intended use and limitations → provenance.
"""
from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from fastxai.report import cards as C
from fastxai.report import figures as F
from fastxai.report import overlays as O
from fastxai.report import tables as T
from fastxai.report import wording as W
from fastxai.report.audit import audit_dataset, image_stats
from fastxai.report.checks import primary_metric, slug
from fastxai.report.data import RunData, load_run
from fastxai.report.findings import Context, FindingSettings, compute_findings, make_context, settings_from_config
from fastxai.report.html import df_table, render

__all__ = ["build_report", "report_context", "audit_section"]


def build_report(run: Union[str, Path, Any], out: Optional[Union[str, Path]] = None, *,
                 include_images: bool = True, settings: Optional[FindingSettings] = None) -> Path:
    """Write the report of ``run`` (a run folder or a reader object) to ``out``
    (default ``RUN_DIR/report.html``, or ``report_public.html`` without images); returns the path."""
    data = load_run(run)
    if out is None:
        if data.run_dir is None:
            raise ValueError("out= is needed when the run is not a folder")
        out = data.run_dir / ("report.html" if include_images else "report_public.html")
    html = render("report.html.j2", report_context(data, include_images=include_images, settings=settings))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def audit_section(data: RunData, ctx: Optional[Context], min_group_size: int) -> Dict[str, Any]:
    """The audit of the evaluated samples (tables, flags) plus the Audit object."""
    s = data.samples.drop_duplicates("sample_id")
    ids = list(dict.fromkeys(ctx.sample_ids)) if ctx is not None else list(s["sample_id"])
    s = s[s["sample_id"].isin(ids)]
    imgs = data.images(ids)
    ok = imgs is not None and imgs.ndim == 4
    stats = image_stats(ids, imgs) if ok else None
    audit = audit_dataset(s, data.boxes, group_columns=data.group_columns, stats=stats,
                          box_frame=tuple(imgs.shape[-2:]) if ok else None, min_group_size=min_group_size)
    return audit_view(audit)


def audit_view(audit: Any) -> Dict[str, Any]:
    """Template-ready audit: summary numbers, one table per feature / intersection / split."""
    tables = [df_table(t, slug("audit", f), f"Representation by {f}") for f, t in audit.groups.items()]
    tables += [df_table(ct, slug("audit", a, b), f"Intersection {a} × {b} (images)", index=True)
               for (a, b), ct in audit.intersections.items()]
    if audit.full is not None:
        tables.append(df_table(audit.full, "audit-all-groups", "Every combination of "
                               + " × ".join(audit.group_columns) + " (fewest images first)"))
    tables.append(df_table(audit.splits, "audit-splits", "Patients vs images by split"))
    return {"audit": audit, "tables": tables, "flags": audit.flags,
            "summary": f"{audit.n_images} images of {audit.n_patients} patients, {audit.n_boxes} boxes; "
                       f"groups: {', '.join(audit.group_columns) or 'none configured'}; "
                       f"labels: {', '.join(audit.label_columns) or 'none'}"}


def _targets(data: RunData, model: str) -> List[Any]:
    p = data.predictions
    if not len(p):
        return []
    p = p[p["model"] == model]
    return list(dict.fromkeys(p["target"])) if "target" in p.columns else [None]


def _model_section(data: RunData, ctx: Context, model: str, include_images: bool) -> Dict[str, Any]:
    units, s, st = ctx.units, ctx.samples, ctx.settings
    metric = primary_metric(data.metrics(model))
    tables = [T.method_metric_table(data, model, ctx.boot, units, slug("tab-methods", model))]
    group_table = None
    if metric:
        group_table = T.method_group_table(data, model, metric, s, units, slug("tab-groups", model, metric),
                                           n_boot=min(st.n_boot, 200), min_group_size=st.min_group_size)
        tables.append(group_table)
    figs: List[Dict[str, Any]] = [{"id": slug("fig-curves", model), "uri": F.curves(data.curves, model),
                                   "caption": "Deletion and insertion curves (mean over images; dashed: baselines)"}]
    for k, target in enumerate(_targets(data, model)):
        tid = slug("tab-model-groups", model) + ("" if k == 0 else f"-{k}")
        mg = T.model_group_table(data, model, target, tid, st.threshold, min(st.n_boot, 200))
        if mg is not None:
            tables.append(mg)
        figs += _reliability(data, model, target)
    for f in data.group_columns:
        groups = s[f].astype(object).where(s[f].notna(), None).to_numpy()
        if group_table is not None:
            figs.append({"id": slug("fig-groups", model, f),
                         "caption": f"{W.metric_label(metric)} by {f}, 95 % CI whiskers (no bar: fewer than "
                                    f"{st.min_group_size} scored samples, too small to measure)",
                         "uri": F.group_bars(group_table.values.get(f, {}), f"{W.metric_label(metric)} by {f}",
                                             W.metric_label(metric), st.min_group_size)})
        if ctx.border_shares.get(model):
            fid = slug("fig-border", model) if f == data.group_columns[0] else slug("fig-border", model, f)
            figs.append({"id": fid, "uri": F.border_bars(ctx.border_shares[model], groups, f, st.border),
                         "caption": f"Share of each map's positive attribution on the image border, by {f}"})
    rows = C.timing_rows(data.timings, model)
    timing = {"rows": [{**r, "per_image_ms": W.num(1e3 * r["per_image"], 2),
                        "floor_ms": W.num(1e3 * r["floor_per_image"], 2),
                        "overhead_pct": _overhead(r["overhead"])} for r in rows],
              "uri": F.timing(rows)}
    section = {"name": model, "id": slug("model", model), "metric": metric, "tables": tables,
               "figures": [f for f in figs if f["uri"]], "timing": timing, "overlays": []}
    if include_images and metric:
        section["overlays"] = _overlays(data, ctx, model, metric)
    return section


def _overhead(x: float) -> str:
    """Engine overhead for the timing table; a floor estimate above the measured time says so."""
    if not np.isfinite(x):
        return "n/a"
    return f"{W.num(100 * x, 0)} %" if x >= 0 else "< 0 % (the floor estimate exceeds the measured time)"


def _reliability(data: RunData, model: str, target: Any) -> List[Dict[str, Any]]:
    p = data.predictions
    p = p[p["model"] == model]
    if target is not None and "target" in p.columns:
        p = p[p["target"] == target]
    p = p.drop_duplicates("sample_id")
    s = data.samples.drop_duplicates("sample_id").set_index("sample_id").reindex(p["sample_id"])
    out = []
    for f in data.group_columns:
        groups = np.array(F.names(s[f].astype(object).where(s[f].notna(), None).tolist()))
        cls = "" if target is None else f", class {target}"
        uri = F.reliability(p["y_true"].to_numpy(dtype=float), p["y_score"].to_numpy(dtype=float), groups, f,
                            label=cls[2:])
        out.append({"id": slug("fig-reliability", model, target if target is not None else "", f), "uri": uri,
                    "caption": f"Reliability diagram by {f}{cls} (a calibrated model follows the diagonal)"})
    return out


def _case_maps(data: RunData, ctx: Context, model: str, methods: List[str],
               cells: Dict[str, List[Any]]) -> Dict[str, Dict[int, np.ndarray]]:
    """method -> unit index -> (H, W) map, fetched only for the units shown."""
    out: Dict[str, Dict[int, np.ndarray]] = {}
    for m in methods:
        got: Dict[int, np.ndarray] = {}
        for _, u in cells.get(m, []):
            sid, target = ctx.units[u]
            arr = data.maps(model, m, [sid], target)
            if arr is None:
                break
            got[u] = arr[0]
        if got:
            out[m] = got
    return out


def _overlays(data: RunData, ctx: Context, model: str, metric: str) -> List[Dict[str, Any]]:
    mat = data.score_matrix(model, metric, ctx.units)
    methods = data.methods(model) + data.methods(model, baselines=True)
    n = len(ctx.units)
    cells = {m: O.pick_cases(mat.get(m, np.full(n, np.nan)), ctx.settings.seed) for m in methods}
    grids = [("", cells, ["best", "worst", "random"],
              f"Best, worst and a random case per method by {W.metric_label(metric)} (green: annotated boxes)")]
    for f in data.group_columns:
        groups = ctx.samples[f].astype(object).where(ctx.samples[f].notna(), None).to_numpy()
        gcells, names = O.group_cells(methods, mat, groups, ctx.settings.seed)
        grids.append((f, gcells, names, f"A random case of each {f} group per method"))
    need = sorted({u for _, cl, _, _ in grids for cs in cl.values() for _, u in cs})
    if not need:
        return []
    images = data.images([ctx.sample_ids[u] for u in need])
    if images is None:
        return []
    img = {u: images[k] for k, u in enumerate(need)}
    maps = _case_maps(data, ctx, model, methods, {m: [c for _, cl, _, _ in grids for c in cl.get(m, [])]
                                                  for m in methods})
    if not maps:
        return []
    boxes = O.box_lookup(data.boxes, ctx.units)
    files = ctx.samples["image"].astype(str).tolist() if "image" in ctx.samples.columns else [str(i) for i in ctx.sample_ids]
    out = []
    for f, cl, columns, caption in grids:
        cl = {m: cs for m, cs in cl.items() if m in maps}
        uri = O.grid(img, maps, cl, boxes, columns)
        if uri:
            out.append({"id": slug("fig-cases", model, f) if f else slug("fig-cases", model), "uri": uri,
                        "caption": caption, "cases": [f"{m}, {lab}: {files[u]}" for m, cs in cl.items() for lab, u in cs]})
    return out


def _title(data: RunData) -> str:
    """The config's name, else "Benchmark report: <dataset name>", else the run id."""
    if data.config.get("name"):
        return str(data.config["name"])
    ds = data.config.get("dataset")
    name = ds.get("name") if isinstance(ds, dict) else None
    if name:
        return f"Benchmark report: {name}"
    return str(data.provenance.get("run_id") or "fastxai benchmark report")


def _code_revision() -> Optional[str]:
    """The git commit of the fastxai checkout that built the report ('+ local changes' when dirty),
    or None outside a git checkout."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + (" + local changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> Dict[str, str]:
    import importlib

    out = {"python": platform.python_version()}
    rev = _code_revision()
    if rev:
        out["fastxai code (git commit)"] = rev
    for mod in ("fastxai", "torch", "numpy", "pandas", "matplotlib", "jinja2"):
        try:
            out[mod] = str(importlib.import_module(mod).__version__)
        except Exception:  # noqa: BLE001 - a missing optional library is just not listed
            continue
    return out


def report_context(data: RunData, *, include_images: bool = True,
                   settings: Optional[FindingSettings] = None) -> Dict[str, Any]:
    """Everything the template needs (findings computed here, over one FDR family). Settings
    default to the run config's (``groups.n_boot``, ``groups.ci``, ``groups.min_group_size``)."""
    settings = settings or settings_from_config(data.config)
    ctx = make_context(data, settings)
    audit = audit_section(data, ctx, settings.min_group_size)
    findings = compute_findings(data, audit["audit"], settings, ctx)
    models = [_model_section(data, ctx, m, include_images) for m in data.models]
    methods = list(dict.fromkeys(m for mod in data.models for m in data.methods(mod) + data.methods(mod, True)))
    first = data.models[0] if data.models else None
    return {
        "title": _title(data),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "include_images": include_images, "findings": findings, "audit": audit, "models": models,
        "cards": C.method_cards(methods, data.config, data.timings, first),
        "settings": settings, "n_samples": len(set(ctx.sample_ids)), "n_patients": ctx.boot.n_patients,
        "provenance": {str(k): json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                       for k, v in data.provenance.items()},
        "config_json": json.dumps(data.config, indent=2, default=str, sort_keys=True),
        "versions": _versions(), "notes": data.notes,
    }
