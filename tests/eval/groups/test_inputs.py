"""Row inputs: MEDFAIR's best-F1 threshold in torch (== scikit-learn's precision_recall_curve + first
arg-max, without scikit-learn at run time) and scikit-learn's log-loss clipping per input dtype."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import fastxai.eval.groups as GR
from fastxai.eval.groups.inputs import best_f1_threshold, nll_eps

skm = pytest.importorskip("sklearn.metrics")


def _sklearn_best_f1(y, s):
    prec, rec, thr = skm.precision_recall_curve(y, s)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.where(prec + rec > 0, prec + rec, 1), 0)
    return float(thr[int(np.argmax(f1[:-1]))])


@pytest.mark.parametrize("case", ["random", "ties", "one_value", "no_positives", "all_positives", "one_row",
                                  "f1_tie"])
def test_best_f1_threshold_equals_sklearn(case) -> None:
    g = np.random.default_rng(7)
    n = 200
    y = g.random(n) < 0.4
    s = g.random(n)
    if case == "ties":
        s = np.round(s, 1)
    elif case == "one_value":
        s = np.full(n, 0.3)
    elif case == "no_positives":
        y[:] = False
    elif case == "all_positives":
        y[:] = True
    elif case == "one_row":
        y, s = y[:1], s[:1]
    elif case == "f1_tie":  # two thresholds with exactly the same F1: the lower one (first in ascending order)
        y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns without positives
        want = _sklearn_best_f1(y, s)
    assert best_f1_threshold(torch.tensor(y).bool(), torch.tensor(s)) == want


def test_best_f1_report_does_not_import_sklearn() -> None:
    code = ("import sys, numpy as np; import fastxai.eval as fe;"
            "r = fe.group_report([1, 0, 1, 0], y_score=np.array([.9, .8, .7, .1]), sensitive_features=['a', 'a', 'b', 'b'],"
            " metrics=['accuracy'], threshold='best_f1'); print('sklearn' in sys.modules, r.overall['accuracy'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    y, s = np.array([1, 0, 1, 0]), np.array([.9, .8, .7, .1])
    assert out == ["False", str(float(np.mean(y == (s > _sklearn_best_f1(y, s)))))]  # MEDFAIR: score > thr


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nll_clips_as_sklearn_log_loss_for_the_input_dtype(dtype) -> None:
    """Scores of exactly 0 and 1: sklearn clips to [eps, 1 - eps] with eps of the input dtype."""
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    p = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.999, 0.25, 1e-9]).astype(dtype)
    sex = np.array(["F", "F", "F", "F", "M", "M", "M", "M"])
    rep = GR.group_report(y, y_score=p, sensitive_features=sex, metrics=["nll"])
    for k, lv in enumerate(["F", "M"]):
        want = skm.log_loss(y[sex == lv], p[sex == lv], labels=[0, 1])
        assert float(rep.by_group["nll"][k]) == pytest.approx(want, rel=2e-3 if dtype == np.float16 else 1e-6)
    # the same through the row path (bootstrap kept rows) and with another metric needing rows
    rows = GR.group_report(y, y_score=p, sensitive_features=sex, metrics=["nll", "auroc"])
    torch.testing.assert_close(rows.by_group["nll"], rep.by_group["nll"])
    assert nll_eps(torch.tensor(p)) == float(np.finfo(dtype).eps)
    assert nll_eps(torch.tensor([0, 1])) == float(np.finfo(np.float64).eps)
