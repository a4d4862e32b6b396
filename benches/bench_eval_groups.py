"""Group-metric benches of ``bench_eval.py``: fastxai's ``group_report`` vs fairlearn 0.15's
``MetricFrame`` and vs a plain vectorised torch baseline (``benches/eval_group_baseline.py``).

``bench_report_vs_baseline`` (issue 16): accuracy, TPR, FPR, selection rate and AUROC by group plus
difference / ratio on ``--large-rows`` rows x 6 groups; the baseline, fastxai and fairlearn are
timed side by side in the same interleaved rounds, at 1 and 2 torch threads; ratios = median /
median of the same rounds. Public API only.
"""
from __future__ import annotations

import warnings
from typing import List

import numpy as np
import torch

from benches.eval_group_baseline import plain_group_report
from benches.timing import interleaved, med
import fastxai.eval as fe


def group_data(n: int, seed: int = 0):
    g = np.random.default_rng(seed)
    y = (g.random(n) < 0.3).astype(np.int64)
    s = np.clip(0.3 * y + 0.7 * g.random(n), 0, 1)
    sf = g.choice(["a", "b", "c", "d", "e", "f"], n)
    return y, s, sf


REPORT_METRICS = ["accuracy", "tpr", "fpr", "selection_rate", "auroc"]


def report_fns(y, s, sf):
    """(fairlearn, fastxai) closures: 5 metrics by group + difference / ratio + DP / EO, each library's way."""
    import fairlearn.metrics as fl
    import sklearn.metrics as skm

    yp = (s >= 0.5).astype(np.int64)
    fl_metrics = {"accuracy": skm.accuracy_score, "tpr": fl.true_positive_rate, "fpr": fl.false_positive_rate,
                  "selection_rate": fl.selection_rate}

    def run_fairlearn():
        mf = fl.MetricFrame(metrics=fl_metrics, y_true=y, y_pred=yp, sensitive_features=sf)
        auc = fl.MetricFrame(metrics=skm.roc_auc_score, y_true=y, y_pred=s, sensitive_features=sf)
        return mf.difference(), mf.ratio(), auc.by_group, fl.demographic_parity_difference(y, yp, sensitive_features=sf), \
            fl.equalized_odds_difference(y, yp, sensitive_features=sf)

    def run_fastxai():
        r = fe.group_report(y, yp, y_score=s, sensitive_features=sf, metrics=REPORT_METRICS)
        return r.difference(), r.ratio(), r.demographic_parity(), r.equalized_odds()

    return run_fairlearn, run_fastxai


def fairlearn_boot_metrics():
    """The 5 report metrics as one fairlearn MetricFrame on scores (decisions = score >= 0.5)."""
    import fairlearn.metrics as fl
    import sklearn.metrics as skm

    def thr(fn):
        return lambda a, b: fn(a, (np.asarray(b) >= 0.5).astype(np.int64))

    return {"accuracy": thr(skm.accuracy_score), "tpr": thr(fl.true_positive_rate),
            "fpr": thr(fl.false_positive_rate), "selection_rate": thr(fl.selection_rate),
            "auroc": skm.roc_auc_score}


def bench_groups(args, rows: List[str]) -> None:
    import fairlearn.metrics as fl
    import sklearn.metrics as skm

    y, s, sf = group_data(args.rows)
    run_fairlearn, run_fastxai = report_fns(y, s, sf)
    t = interleaved({"fairlearn": run_fairlearn, "fastxai": run_fastxai}, args.repeats)
    rows.append(f"| GroupReport 5 metrics + DP/EO, 6 groups | {args.rows:,} rows | {med(t['fairlearn']):.2f} s | "
                f"{med(t['fastxai']):.3f} s | {med(t['fairlearn']) / med(t['fastxai']):.0f}x |")
    print(rows[-1], flush=True)

    n_b = args.boot_rows
    yb, sb, sfb = group_data(n_b, seed=1)
    fl_boot = {"accuracy": lambda a, b: skm.accuracy_score(a, b >= 0.5), "auroc": skm.roc_auc_score}

    def boot_fairlearn():
        fl.MetricFrame(metrics=fl_boot, y_true=yb, y_pred=sb, sensitive_features=sfb, n_boot=args.fl_boot,
                       ci_quantiles=[0.025, 0.975], random_state=0)

    def boot_fastxai():
        fe.group_report(yb, y_score=sb, sensitive_features=sfb, metrics=["accuracy", "auroc"], n_boot=args.boot,
                        ci_quantiles=[0.025, 0.975], random_state=0).by_group_ci()

    t = interleaved({"fairlearn": boot_fairlearn, "fastxai": boot_fastxai}, args.repeats)
    per_fl = med(t["fairlearn"]) / args.fl_boot
    per_fx = med(t["fastxai"]) / args.boot
    rows.append(f"| bootstrap (accuracy + AUROC), same fairlearn resamples | {n_b:,} rows | "
                f"{per_fl:.3f} s/resample (n_boot={args.fl_boot}, scaled) | {per_fx:.4f} s/resample "
                f"(n_boot={args.boot}) | {per_fl / per_fx:.0f}x |")
    print(rows[-1], flush=True)


def bench_groups_issue(args, rows: List[str], notes: List[str]) -> None:
    """fairlearn vs fastxai bootstrap at the issue's size (1,000,000 rows x 6 groups), interleaved in one run.

    fairlearn takes ~13 s per resample here, so the bootstrap runs ``--boot-repeats`` (default 2)
    rounds; fairlearn's bootstrap runs ``--fl-large-boot`` (default 10) resamples and is scaled per
    resample. Per-resample cost = (bootstrap call - point-estimate call) / n_boot, both timed in the
    same rounds. (The report itself: ``bench_report_vs_baseline``.)
    """
    import fairlearn.metrics as fl

    y, s, sf = group_data(args.large_rows, seed=2)
    fl_metrics = fairlearn_boot_metrics()
    q = [0.025, 0.975]

    def fl_point():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fl.MetricFrame(metrics=fl_metrics, y_true=y, y_pred=s, sensitive_features=sf)

    def fl_boot():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mf = fl.MetricFrame(metrics=fl_metrics, y_true=y, y_pred=s, sensitive_features=sf,
                                n_boot=args.fl_large_boot, ci_quantiles=q, random_state=0)
            return mf.by_group_ci, mf.difference_ci()

    def fx_point():
        return fe.group_report(y, y_score=s, sensitive_features=sf, metrics=REPORT_METRICS).by_group

    def fx_boot():
        r = fe.group_report(y, y_score=s, sensitive_features=sf, metrics=REPORT_METRICS, n_boot=args.large_boot,
                            ci_quantiles=q, random_state=0)
        return r.by_group_ci(), r.difference_ci()

    t = interleaved({"fl_boot": fl_boot, "fl_point": fl_point, "fx_boot": fx_boot, "fx_point": fx_point},
                    args.boot_repeats)
    per_fl = (med(t["fl_boot"]) - med(t["fl_point"])) / args.fl_large_boot
    per_fx = (med(t["fx_boot"]) - med(t["fx_point"])) / args.large_boot
    rows.append(f"| bootstrap (5 metrics), same fairlearn resamples | {args.large_rows:,} rows | "
                f"{per_fl:.2f} s/resample (n_boot={args.fl_large_boot}, scaled) -> {1000 * per_fl / 3600:.1f} h "
                f"per 1,000 (extrapolated) | {per_fx * 1e3:.1f} ms/resample (n_boot={args.large_boot}: "
                f"{med(t['fx_boot']):.1f} s per call, measured) | {per_fl / per_fx:.0f}x |")
    print(rows[-1], flush=True)
    notes.append(
        f"Issue-size bootstrap ({args.large_rows:,} rows): the bootstrap ran {args.boot_repeats} interleaved rounds of fairlearn n_boot={args.fl_large_boot}, "
        f"fairlearn point estimate, fastxai n_boot={args.large_boot}, fastxai point estimate; per-resample cost = "
        f"(median bootstrap call - median point-estimate call) / n_boot (fairlearn point estimate "
        f"{med(t['fl_point']):.1f} s, bootstrap call {med(t['fl_boot']):.0f} s; fastxai point estimate "
        f"{med(t['fx_point']):.2f} s). Both libraries draw the same resamples (fairlearn's seeds).")


REPORT_HEADING = "## Group report vs a plain torch baseline and fairlearn (issue 16)"


def bench_report_vs_baseline(args, threads=(1, 2)) -> List[str]:
    """The baseline, fastxai and fairlearn interleaved (B F A B F A ...) at each thread count."""
    y, s, sf = group_data(args.large_rows, seed=2)
    yp = (s >= 0.5).astype(np.int64)
    run_fairlearn, run_fastxai = report_fns(y, s, sf)
    check = fe.group_report(y, yp, y_score=s, sensitive_features=sf, metrics=REPORT_METRICS)
    base = plain_group_report(y, yp, s, sf)
    for m in REPORT_METRICS:  # the same numbers, checked before timing
        assert torch.allclose(check.by_group[m], base[m]["by_group"], rtol=0, atol=1e-12, equal_nan=True), m
    rows = [REPORT_HEADING, "",
            "| torch threads | rows x groups | plain torch baseline | fastxai `group_report` | fairlearn `MetricFrame` | "
            "fastxai / baseline (target <= 1.5) | fairlearn / fastxai (target >= 40) |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    before = torch.get_num_threads()
    try:
        for t in threads:
            torch.set_num_threads(t)
            tm = interleaved({"baseline": lambda: plain_group_report(y, yp, s, sf), "fastxai": run_fastxai,
                              "fairlearn": run_fairlearn}, args.report_repeats)
            b, f, fl_t = med(tm["baseline"]), med(tm["fastxai"]), med(tm["fairlearn"])
            rows.append(f"| {t} | {args.large_rows:,} x 6 | {b:.3f} s ({min(tm['baseline']):.3f}–{max(tm['baseline']):.3f}) | "
                        f"{f:.3f} s ({min(tm['fastxai']):.3f}–{max(tm['fastxai']):.3f}) | {fl_t:.2f} s | "
                        f"{f / b:.2f}x | {fl_t / f:.0f}x |")
            print(rows[-1], flush=True)
    finally:
        torch.set_num_threads(before)
    rows += ["", f"Median of {args.report_repeats} interleaved rounds (min–max); the baseline: `np.unique` for the "
             "groups, one `bincount` for the confusion cells, one sort per group and one overall for AUROC "
             "(`benches/eval_group_baseline.py`, no validation); fastxai and fairlearn also compute difference / "
             "ratio and DP / EO. All three give the same numbers (checked before timing).", ""]
    return rows
