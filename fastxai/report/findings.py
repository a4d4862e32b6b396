"""The findings engine: plain-language statements, each tied to its numbers and to the table or
figure behind it, never stronger than its confidence interval allows.

``compute_findings(data, audit)`` runs every check in :mod:`fastxai.report.checks` (methods vs the
trivial baselines, sensitivity / specificity by group, localisation by group, attribution on the
image border by group), collects all their :class:`Comparison` objects, controls the false
discovery rate over *all of them at once* (Benjamini–Hochberg), and only then words each finding
(:mod:`fastxai.report.wording`). Audit flags and run problems (failed cells, missing tables) are
findings too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastxai.report.data import RunData
from fastxai.report.stats import ClusterBootstrap, Comparison, benjamini_hochberg

__all__ = ["Finding", "Draft", "FindingSettings", "compute_findings"]


@dataclass
class Finding:
    """One statement. level: "flag" (needs attention) | "info" | "ok"; anchor: id in the report."""

    kind: str
    text: str
    level: str = "info"
    anchor: str = ""
    details: List[str] = field(default_factory=list)
    comparisons: List[Comparison] = field(default_factory=list)
    subject: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Draft:
    """Comparisons waiting for their q-values, and how to word them once they have them."""

    comparisons: List[Comparison]
    render: Callable[[int, float], List[Finding]]


@dataclass
class FindingSettings:
    """n_boot replicates (by patient), alpha (CI level 1 − alpha, FDR level alpha), seed,
    min_group_size (smaller groups are not tested), threshold on y_score, border band fraction."""

    n_boot: int = 1000
    alpha: float = 0.05
    seed: int = 0
    min_group_size: int = 30
    threshold: float = 0.5
    border: float = 0.1


def settings_from_config(config: Dict[str, Any]) -> FindingSettings:
    """Defaults taken from a bench run's resolved config: ``groups.n_boot`` (at least 200),
    ``groups.ci`` (alpha = 1 − ci), ``groups.min_group_size``, ``groups.seed``, ``metrics.border``."""
    g = config.get("groups") if isinstance(config, dict) else None
    m = config.get("metrics") if isinstance(config, dict) else None
    s = FindingSettings()
    if isinstance(g, dict):
        s.n_boot = max(200, int(g.get("n_boot") or s.n_boot))
        s.alpha = round(1.0 - float(g.get("ci", 1 - s.alpha)), 10)
        s.min_group_size = int(g.get("min_group_size", s.min_group_size))
        s.seed = int(g.get("seed", s.seed))
    if isinstance(m, dict) and m.get("border"):
        s.border = float(m["border"])
    return s


@dataclass
class Context:
    """What every check needs: the run, the evaluated units aligned with their samples, their
    patient bootstrap. A unit is an explained (sample, target class) pair; ``targets`` is None
    for runs whose tables have no ``target`` column."""

    data: RunData
    sample_ids: List[Any]  # (U,) sample of each unit (a sample repeats when several classes are explained)
    targets: Optional[List[Any]]  # (U,) class of each unit
    samples: Any  # DataFrame aligned to the units (row u = the sample of unit u)
    boot: ClusterBootstrap
    settings: FindingSettings
    border_shares: Dict[str, Dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def units(self) -> List[Tuple[Any, Any]]:
        """(sample_id, target) per unit (target None without a target column)."""
        return list(zip(self.sample_ids, self.targets or [None] * len(self.sample_ids)))

    def for_samples(self, sample_ids: Sequence[Any]) -> "Context":
        """The same run seen on other samples (one unit each), e.g. a class's predictions."""
        return _context(self.data, list(sample_ids), None, self.settings)


def evaluated_units(data: RunData) -> Tuple[List[Any], Optional[List[Any]]]:
    """(sample ids, targets) of the units that have scores, in the samples table's order (all
    samples with predictions, or every sample, when nothing was scored)."""
    sc = data.scores
    samples = data.samples
    split = (data.config.get("split") or {}).get("evaluate") if isinstance(data.config, dict) else None
    if split and "split" in samples.columns and (samples["split"].astype(str) == str(split)).any():
        samples = samples[samples["split"].astype(str) == str(split)]  # not the cheXlocalize validation units
    order = {s: i for i, s in enumerate(samples["sample_id"])}
    if len(sc):
        cols = ["sample_id", "target"] if "target" in sc.columns else ["sample_id"]
        u = sc[cols].drop_duplicates()
        u = u[u["sample_id"].isin(order)]
        u = u.assign(_o=u["sample_id"].map(order)).sort_values(["_o"] + cols[1:], kind="stable")
        return u["sample_id"].tolist(), (u["target"].tolist() if "target" in cols else None)
    used = set(data.predictions.get("sample_id", []))
    ids = [s for s in samples["sample_id"] if s in used]
    return (ids if ids else list(samples["sample_id"])), None


def _context(data: RunData, ids: List[Any], targets: Optional[List[Any]], settings: FindingSettings) -> Context:
    s = data.samples.drop_duplicates("sample_id").set_index("sample_id").reindex(ids)
    patients = s["patient_id"].tolist() if "patient_id" in s.columns else [None] * len(ids)
    patients = [p if p is not None and p == p else f"__sample__{i}" for i, p in zip(ids, patients)]
    boot = ClusterBootstrap(patients, n_boot=settings.n_boot, seed=settings.seed, alpha=settings.alpha)
    return Context(data, ids, targets, s.reset_index(), boot, settings)


def make_context(data: RunData, settings: FindingSettings) -> Context:
    """Align the samples table to the evaluated units and draw the patient bootstrap once."""
    ids, targets = evaluated_units(data)
    return _context(data, ids, targets, settings)


def compute_findings(data: RunData, audit: Any = None, settings: Optional[FindingSettings] = None,
                     ctx: Optional[Context] = None) -> List[Finding]:
    """All findings of a run, flags first. Every comparison shares one BH pass."""
    from fastxai.report import checks

    settings = settings or FindingSettings()
    ctx = ctx or make_context(data, settings)
    drafts: List[Draft] = []
    for check in checks.ALL:
        drafts.extend(check(ctx))
    comps = [c for d in drafts for c in d.comparisons]
    q = benjamini_hochberg([c.p for c in comps])
    for c, qi in zip(comps, q):
        c.q = float(qi)
    n_tests = len(comps)
    out: List[Finding] = []
    out.extend(_audit_findings(audit))
    out.extend(_health_findings(data))
    for d in drafts:
        out.extend(d.render(n_tests, settings.alpha))
    order = {"flag": 0, "info": 1, "ok": 2}
    return sorted(_merge_unclear(out), key=lambda f: order.get(f.level, 1))


def _merge_unclear(found: List[Finding]) -> List[Finding]:
    """One "no clear difference" finding per model and kind (their statements kept as details)."""
    out: List[Finding] = []
    merged: Dict[Tuple[str, str], Finding] = {}
    for f in found:
        if f.level != "ok" or f.kind not in ("model_gap", "explanation_gap"):
            out.append(f)
            continue
        key = (f.kind, str(f.subject.get("model", "")))
        if key not in merged:
            what = "the classifier's sensitivity or specificity" if f.kind == "model_gap" else "localisation"
            merged[key] = Finding(f.kind, f"{key[1]}: no clear group difference in {what} for the comparisons "
                                  "below (every interval includes zero).", "ok", f.anchor, [], [],
                                  {"model": key[1], "features": []})
            out.append(merged[key])
        m = merged[key]
        m.details += [f"{f.subject.get('method') + ': ' if f.subject.get('method') else ''}{d}" for d in f.details]
        m.comparisons += f.comparisons
        m.subject["features"].append(f.subject.get("feature"))
    return out


def _audit_findings(audit: Any) -> List[Finding]:
    if audit is None:
        return []
    out = []
    kinds = {"too_small": "small groups", "under_represented": "imbalance", "intersection": "small intersections",
             "leakage": "patient leakage", "annotation": "annotation coverage"}
    for kind, title in kinds.items():
        flags = audit.flagged(kind)
        if not flags:
            continue
        if kind == "intersection" and len(flags) > 3:
            text = (f"Dataset audit: {len(flags)} group intersections have fewer than {audit.min_group_size} "
                    "images and are too small to measure.")
            out.append(Finding("audit", text, "flag", "audit", [f.text for f in flags], subject={"audit": kind}))
            continue
        for f in flags:
            out.append(Finding("audit", f"Dataset audit ({title}): {f.text}", "flag", "audit",
                               subject={"audit": kind, "feature": f.feature, "group": f.group, "n": f.n}))
    return out


def _health_findings(data: RunData) -> List[Finding]:
    out = []
    cells = data.cells
    if len(cells) and "status" in cells.columns:
        failed = cells[cells["status"].astype(str) == "failed"]
        if len(failed):
            names = [f"{r.get('stage', '')} {r.get('model', '')} {r.get('method', '')}".strip()
                     for _, r in failed.iterrows()]
            out.append(Finding("health", f"{len(failed)} of {len(cells)} cells of this run failed; their results "
                               "are missing from every table below.", "flag", "provenance", names))
    for note in data.notes:
        out.append(Finding("health", f"Not in this report: {note}.", "info", "provenance"))
    return out
