"""The checks behind the findings. Each takes the findings :class:`Context` and returns drafts
(comparisons + how to word them once the report-wide FDR control has given their q-values).

* ``baselines``: every method vs every trivial baseline, per model and metric (paired per sample);
* ``model_gaps``: sensitivity and specificity of each group vs the rest (binary features: the one
  level vs the other);
* ``explanation_gaps``: the primary localisation metric of each group vs the rest, per method;
* ``border``: the share of each map's positive attribution on an outer band of the image
  ("attributions for AP films concentrate on the border"), per group vs the rest, per method.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from fastxai.report import wording as W
from fastxai.report.data import is_baseline
from fastxai.report.findings import Context, Draft, Finding
from fastxai.report.stats import Comparison

PRIMARY = ("pointing_game", "hit_rate", "energy_pointing_game", "iou_otsu", "saporta_iou", "iou", "miou",
           "relevance_mass", "relevance_mass_accuracy", "heatmap_auroc", "attribution_localisation",
           "relevance_rank", "relevance_rank_accuracy", "top_k_intersection")
# properties of a map alone (not "how good"): never compared with the baselines
NOT_COMPARED = ("border_mass", "border_share", "sparseness", "complexity", "randomisation", "mprt")
BORDER_METRICS = ("border_mass", "border_share")


def slug(*parts: object) -> str:
    """An HTML id from parts (letters, digits and '-')."""
    raw = "-".join(str(p) for p in parts).lower()
    return "".join(ch if ch.isalnum() else "-" for ch in raw).strip("-")


def primary_metric(metrics: List[str]) -> str:
    """The localisation metric the group and picture sections use."""
    for m in PRIMARY:
        if m in metrics:
            return m
    rest = [m for m in metrics if "deletion" not in m and "insertion" not in m
            and not any(k in m for k in NOT_COMPARED)]
    return rest[0] if rest else (metrics[0] if metrics else "")


def levels(ctx: Context, feature: str) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """(level, in-group mask, comparison mask) for the tests of one feature: a binary feature is
    one test (first level vs the other); more levels: each vs the rest. Groups smaller than
    min_group_size on either side are left out (the audit flags them)."""
    col = ctx.samples[feature].astype(object)
    vals = col.where(col.notna(), None).to_numpy()
    names = sorted({str(v) for v in vals if v is not None})
    m = ctx.settings.min_group_size
    known = np.array([v is not None for v in vals])
    out = []
    for name in (names[:1] if len(names) == 2 else names):
        g = np.array([v is not None and str(v) == name for v in vals])
        rest = known & ~g
        if g.sum() >= m and rest.sum() >= m:
            out.append((name, g, rest))
    return out


def other_label(ctx: Context, feature: str, level: str) -> str:
    """'sex = M' for a binary feature, 'other sex groups' otherwise."""
    names = sorted({str(v) for v in ctx.samples[feature].dropna()})
    if len(names) == 2:
        return f"{feature} = {[n for n in names if n != level][0]}"
    return f"other {feature} groups"


# ------------------------------------------------------------------------------ baselines
def baselines(ctx: Context) -> List[Draft]:
    """Each method vs each baseline, per model and metric."""
    drafts = []
    for model in ctx.data.models:
        for metric in ctx.data.metrics(model):
            if any(k in metric for k in NOT_COMPARED):
                continue
            mat = ctx.data.score_matrix(model, metric, ctx.units)
            meths = [m for m in mat if not is_baseline(m)]
            bases = [m for m in mat if is_baseline(m)]
            if not meths or not bases:
                continue
            comps = {(m, b): ctx.boot.paired_mean_difference(f"{model}|{metric}|{m}|{b}", mat[m], mat[b])
                     for m in meths for b in bases}
            drafts.append(Draft(list(comps.values()), _baseline_render(model, metric, meths, bases, comps)))
    return drafts


def _baseline_render(model, metric, meths, bases, comps):
    def render(n_tests: int, alpha: float) -> List[Finding]:
        better = lambda c: W.strength(c, alpha) == "clear" and ((c.estimate > 0) == W.higher_is_better(metric))  # noqa: E731
        beats_all = [m for m in meths if all(better(comps[(m, b)]) for b in bases)]
        label = W.metric_label(metric)
        centre = next((b for b in bases if "centre" in b or "center" in b), None)
        details = [W.versus_sentence(m, b, metric, comps[(m, b)], n_tests, alpha) for m in meths for b in bases]
        anchor = slug("tab-methods", model)
        if centre and not any(better(comps[(m, centre)]) for m in meths):
            why = ("the model may rely on cues other than the annotated finding, or the maps do not show where "
                   "it looks" if W.is_localisation(metric) else "the maps may not reflect what the model uses")
            text = f"No method scores better than the centre prior on {label} ({model}): {why}."
            level = "flag"
        elif len(beats_all) == len(meths):
            text = f"All {len(meths)} methods score better than every trivial baseline on {label} ({model})."
            level = "ok"
        else:
            lost = [m for m in meths if m not in beats_all]
            text = (f"{len(beats_all)} of {len(meths)} methods score better than every trivial baseline on {label} "
                    f"({model}); {', '.join(lost)} {'does' if len(lost) == 1 else 'do'} not beat all of them.")
            level = "flag" if not beats_all else "info"
        return [Finding("baseline", text, level, anchor, details, [comps[k] for k in comps],
                        {"model": model, "metric": metric, "beats_all": beats_all})]
    return render


# ------------------------------------------------------------------------------ model gaps
def model_gaps(ctx: Context) -> List[Draft]:
    """Sensitivity and specificity by group vs the rest, per model, target class and group feature."""
    pred = ctx.data.predictions
    drafts = []
    if not len(pred):
        return drafts
    if "target" not in pred.columns:
        pred = pred.assign(target="")
    for (model, target), p in pred.groupby(["model", "target"], sort=False):
        order = {sid: i for i, sid in enumerate(ctx.data.samples["sample_id"])}
        ids = sorted(set(p["sample_id"]) & set(order), key=order.get)
        sub = ctx.for_samples(ids)
        p = p.drop_duplicates("sample_id").set_index("sample_id").reindex(ids)
        y = p["y_true"].to_numpy(dtype=np.float64)
        yhat = (p["y_score"].to_numpy(dtype=np.float64) >= ctx.settings.threshold).astype(np.float64)
        known = np.isfinite(y)
        pos, neg = (known & (y == 1)).astype(float), (known & (y == 0)).astype(float)
        name = model if pred["target"].nunique() == 1 else f"{model} (class {target})"
        for feature in ctx.data.group_columns:
            comps: List[Tuple[str, str, Comparison]] = []
            for level, g, rest in levels(sub, feature):
                for what, num, den in (("sensitivity", pos * yhat, pos), ("specificity", neg * (1 - yhat), neg)):
                    if (den * g).sum() >= 1 and (den * rest).sum() >= 1:
                        key = f"{model}|{target}|{what}|{feature}={level}"
                        comps.append((what, level, sub.boot.group_rate_gap(key, num, den, g, rest)))
            if comps:
                drafts.append(Draft([c for _, _, c in comps], _gap_render(sub, name, feature, comps, "model_gap",
                                                                          slug("tab-model-groups", model))))
    return drafts


def _gap_render(ctx, model, feature, comps, kind, anchor, method=""):
    def render(n_tests: int, alpha: float) -> List[Finding]:
        out, unclear = [], []
        for what, level, c in comps:
            this = f"{feature} = {level}"
            text = W.gap_sentence(what, c, this, other_label(ctx, feature, level), n_tests, alpha)
            if W.strength(c, alpha) == "unclear":
                unclear.append(text)
                continue
            prefix = f"{model}{' / ' + method if method else ''}: "
            out.append(Finding(kind, prefix + text, "flag" if W.strength(c, alpha) == "clear" else "info", anchor,
                               [], [c], {"model": model, "method": method, "feature": feature, "group": level,
                                         "metric": what}))
        if unclear:
            whats = sorted({w for w, _, _ in comps})
            text = (f"{model}{' / ' + method if method else ''}: no clear difference in {' or '.join(whats)} between "
                    f"{feature} groups ({len(unclear)} comparison{'s' if len(unclear) > 1 else ''}; every interval "
                    "includes zero).")
            out.append(Finding(kind, text, "ok", anchor, unclear, [c for _, _, c in comps],
                               {"model": model, "method": method, "feature": feature, "metric": ", ".join(whats)}))
        return out
    return render


# ------------------------------------------------------------------------------ explanation gaps
def explanation_gaps(ctx: Context) -> List[Draft]:
    """The primary localisation metric by group vs the rest, per model, method and feature."""
    drafts = []
    for model in ctx.data.models:
        metric = primary_metric(ctx.data.metrics(model))
        if not metric:
            continue
        mat = ctx.data.score_matrix(model, metric, ctx.units)
        for method in [m for m in mat if not is_baseline(m)]:
            for feature in ctx.data.group_columns:
                comps = [(W.metric_label(metric), level, ctx.boot.group_mean_gap(
                    f"{model}|{method}|{metric}|{feature}={level}", mat[method], g, rest))
                    for level, g, rest in levels(ctx, feature)]
                if comps:
                    drafts.append(Draft([c for _, _, c in comps], _gap_render(
                        ctx, model, feature, comps, "explanation_gap", slug("tab-groups", model, metric), method)))
    return drafts


# ------------------------------------------------------------------------------ border
def border_share(maps: np.ndarray, frac: float) -> np.ndarray:
    """(N, H, W) maps -> (N,) share of the positive attribution within the outer band of width
    ``ceil(frac * min(H, W))`` pixels (NaN for a map with no positive attribution)."""
    pos = np.clip(maps, 0, None)
    h, w = pos.shape[-2:]
    k = max(1, int(np.ceil(frac * min(h, w))))
    inner = pos[:, k:h - k, k:w - k].sum(axis=(1, 2))
    tot = pos.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 1.0 - inner / tot, np.nan)


def _shares(ctx: Context, model: str) -> Dict[str, np.ndarray]:
    """method -> (N,) border share: the bench's ``border_mass`` scores, else computed from saved maps."""
    metrics = ctx.data.metrics(model)
    have = [m for m in BORDER_METRICS if m in metrics]
    if have:
        mat = ctx.data.score_matrix(model, have[0], ctx.units)
        return {m: mat[m] for m in ctx.data.methods(model) if m in mat}
    shares: Dict[str, np.ndarray] = {}
    targets = set(ctx.targets or [None])
    if len(targets) > 1:  # maps of several classes per sample: only the bench's border_mass is used
        return shares
    for method in ctx.data.methods(model):
        m = ctx.data.maps(model, method, ctx.sample_ids, next(iter(targets)))
        if m is not None and m.ndim == 3 and len(m) == len(ctx.sample_ids):
            shares[method] = border_share(m, ctx.settings.border)
    return shares


def border(ctx: Context) -> List[Draft]:
    """Border share by group vs the rest, per model and feature, across methods."""
    drafts = []
    for model in ctx.data.models:
        shares = _shares(ctx, model)
        ctx.border_shares[model] = shares
        if not shares:
            continue
        for feature in ctx.data.group_columns:
            for level, g, rest in levels(ctx, feature):
                comps = {meth: ctx.boot.group_mean_gap(f"{model}|{meth}|border|{feature}={level}", s, g, rest)
                         for meth, s in shares.items()}
                drafts.append(Draft(list(comps.values()), _border_render(ctx, model, feature, level, comps)))
    return drafts


def _flip(c: Comparison) -> Comparison:
    """The same comparison seen from the other arm (b − a)."""
    return Comparison(c.key, -c.estimate, -c.ci_high, -c.ci_low, c.p, c.n, c.q, c.b, c.a, c.extra)


def _border_render(ctx, model, feature, level, comps):
    def render(n_tests: int, alpha: float) -> List[Finding]:
        this, other = f"{feature} = {level}", other_label(ctx, feature, level)
        clear = {m: c for m, c in comps.items() if W.strength(c, alpha) == "clear"}
        up = [m for m, c in clear.items() if c.estimate > 0]
        down = [m for m, c in clear.items() if c.estimate < 0]
        binary = not other.startswith("other ")
        shown = comps
        if binary and len(down) > len(up):  # the other level is the one on the border
            this, other = other, this
            shown, up = {m: _flip(c) for m, c in comps.items()}, down
        if not up:
            return []
        details = [f"{m}: " + W.gap_sentence(W.metric_label("border_share"), shown[m], this, other, n_tests, alpha)
                   for m in shown]
        best = max(up, key=lambda m: shown[m].ci_low)
        c = shown[best]
        text = (f"{model}: attributions for {this} concentrate on the image border in {len(up)} of {len(comps)} methods "
                f"(e.g. {best}: {W.num(c.a)} of the positive attribution on the outer band vs {W.num(c.b)} for {other}; "
                f"difference {W.num(c.estimate)}, {W.ci_text(c)}, q = {W.num(c.q, 3)}). The model may use a "
                "marker or artefact near the edge (a possible shortcut).")
        group = this.split(" = ", 1)[1]
        return [Finding("border", text, "flag", slug("fig-border", model), details, list(comps.values()),
                        {"model": model, "feature": feature, "group": group, "methods": up})]
    return render


ALL = (baselines, model_gaps, explanation_gaps, border)
