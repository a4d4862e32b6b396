"""GroupMetrics as a metric state: k batches == shard merges (incl. shards whose group order differs)
== pickle round trips == one update over all rows (property-based, hypothesis); merges refuse
different settings naming them; group vocabularies are matched by label, never by position."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

hyp = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

from fastxai.eval.errors import InputError  # noqa: E402
from fastxai.eval.groups import GroupMetrics, GroupMetricWarning, ScoreMetric  # noqa: E402
from tests.eval.metric_tester import assert_close  # noqa: E402

LABELS = [("F",), ("M",), ("X",), ("Y",), ("Z",)]
METRICS = ["accuracy", "balanced_accuracy", "tpr", "fpr", "ppv", "selection_rate", "count", "auroc", "ece",
           "ece_data_range", "brier", "nll", "tpr_at_spec_0.8", "tpr_at_spec_interp_0.7", "auroc_binned"]
PROFILE = hyp.settings(max_examples=40, deadline=None, derandomize=True, database=None,
                       suppress_health_check=list(hyp.HealthCheck))


def _mean_abs(y_true, y_pred, sample_weight=None):  # a user callable (module level: it pickles)
    return float(np.average(np.abs(np.asarray(y_true, float) - y_pred), weights=sample_weight))


@st.composite
def group_data(draw):
    """Rows, a metric configuration, cut points, a group order and input dtypes."""
    n = draw(st.integers(1, 40))
    G = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 16))
    g = np.random.default_rng(seed)
    codes = g.integers(0, G, n)
    y = g.random(n) < 0.45
    score = np.round(g.random(n), draw(st.sampled_from([1, 2, 6])))  # ties at 1-2 decimals
    weights = draw(st.sampled_from([None, "float32", "float64"]))
    w = None if weights is None else (g.random(n) + 0.25).astype(weights)
    metrics = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        metrics = metrics + [_mean_abs]
    cfg = {"threshold": draw(st.sampled_from([0.5, 0.3, "best_f1"])), "keep_rows": draw(st.booleans()),
           "n_bins": draw(st.integers(1, 6)), "min_group_size": draw(st.integers(1, 3))}
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=4))))
    dtypes = {"y": draw(st.sampled_from(["bool", "int64", "float64"])),
              "score": draw(st.sampled_from(["float32", "float64"])),
              "codes": draw(st.sampled_from(["int64", "int32", "uint8"]))}
    perm = draw(st.permutations(range(G)))
    return dict(n=n, G=G, codes=codes, y=y, score=score, w=w, metrics=metrics, cfg=cfg, cuts=cuts, dtypes=dtypes,
                perm=list(perm))


def _batch(d, lo, hi, order=None):
    """Rows lo:hi in the drawn dtypes; ``order``: the group vocabulary of the receiving metric."""
    codes = d["codes"][lo:hi]
    if order is not None:  # the same rows coded against another order of the same labels
        where = {old: new for new, old in enumerate(order)}
        codes = np.array([where[c] for c in codes], dtype=np.int64)
    out = {"y_true": d["y"][lo:hi].astype(d["dtypes"]["y"]), "y_score": d["score"][lo:hi].astype(d["dtypes"]["score"]),
           "groups": torch.from_numpy(codes.astype(d["dtypes"]["codes"]))}
    if d["w"] is not None:
        out["sample_weight"] = d["w"][lo:hi]
    return out


def _make(d, order=None):
    labels = LABELS[: d["G"]] if order is None else [LABELS[i] for i in order]
    return GroupMetrics(labels, d["metrics"], **d["cfg"])


def _report(gm):
    return gm.compute().to_dict()


@PROFILE
@hyp.given(group_data())
def test_batches_shards_group_orders_and_pickle_equal_one_update(d) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GroupMetricWarning)
        whole = _make(d)
        whole.update(**_batch(d, 0, d["n"]))
        ref = _report(whole)
        cuts = [0, *d["cuts"], d["n"]]
        batched = _make(d)
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            batched.update(**_batch(d, lo, hi))
        assert_close(_report(batched), ref)
        shards = []
        for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            order = d["perm"] if k % 2 else None  # every other shard lists the groups in another order
            shard = _make(d, order)
            shard.update(**_batch(d, lo, hi, order))
            shards.append(pickle.loads(pickle.dumps(shard)))
        merged = shards[0]
        for other in shards[1:]:
            merged.merge(other)
        assert_close(_report(merged), ref)
        assert_close(_report(pickle.loads(pickle.dumps(batched))), ref)


def test_merge_by_label_not_by_position() -> None:
    """Two shards listing the groups in opposite orders: selection rate and ECE per label are those of
    one update (a positional merge would swap the groups' counts)."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.2, 0.3, 0.05])
    sex = np.array(["F", "F", "F", "F", "M", "M", "M", "M"])
    code = {"F": 0, "M": 1}
    metrics = ["selection_rate", "ece", "count"]
    whole = GroupMetrics([("F",), ("M",)], metrics)
    whole.update(y, y_score=s, groups=[code[v] for v in sex])
    a = GroupMetrics([("F",), ("M",)], metrics)
    a.update(y[::2], y_score=s[::2], groups=[code[v] for v in sex[::2]])
    b = GroupMetrics([("M",), ("F",)], metrics)  # the other order
    b.update(y[1::2], y_score=s[1::2], groups=[1 - code[v] for v in sex[1::2]])
    got = a.merge(b).compute()
    for m in metrics:
        torch.testing.assert_close(got.by_group[m], whole.compute().by_group[m])
    assert got.by_group["selection_rate"].tolist() == [1.0, 0.0]


def test_merge_refuses_other_vocabulary_naming_groups() -> None:
    a, b = GroupMetrics([("F",), ("M",)]), GroupMetrics([("F",), ("X",)])
    with pytest.raises(InputError, match=r"'groups' differs .*only here: \['M'\].*only in the other: \['X'\]"):
        a.merge(b)
    with pytest.raises(InputError, match="duplicate"):
        GroupMetrics([("F",), ("F",)])


SETTINGS = [  # (setting named in the error, options of the first metric, options of the second)
    ("metrics", {"metrics": ["accuracy"]}, {"metrics": ["tpr"]}),
    ("metrics", {"metrics": [_mean_abs]}, {"metrics": [ScoreMetric(_mean_abs)]}),
    ("feature_names", {"feature_names": ["sex"]}, {"feature_names": ["age"]}),
    ("threshold", {"threshold": 0.5}, {"threshold": 0.6}),
    ("threshold", {"threshold": 0.5}, {"threshold": "best_f1"}),
    ("pos_label", {"pos_label": 1}, {"pos_label": 0}),
    ("zero_division", {}, {"zero_division": 0.0}),
    ("min_group_size", {}, {"min_group_size": 5}),
    ("n_bins", {"metrics": ["ece"]}, {"metrics": ["ece"], "n_bins": 10}),
    ("data_range_bins", {}, {"data_range_bins": 5}),
    ("auroc_bins", {}, {"auroc_bins": 100}),
    ("keep_rows", {}, {"keep_rows": True}),
]


@pytest.mark.parametrize("name,first,second", SETTINGS)
def test_merge_refuses_each_setting_by_name(name, first, second) -> None:
    a, b = GroupMetrics(2, **first), GroupMetrics(2, **second)
    with pytest.raises(InputError, match=f"'{name}'"):
        a.merge(b)
    GroupMetrics(2, **first).merge(GroupMetrics(2, **first))  # same settings: fine


def test_controls_are_a_setting_and_are_aligned_by_label() -> None:
    groups = [("AP", "F"), ("AP", "M"), ("PA", "F"), ("PA", "M")]
    a = GroupMetrics(groups, controls=[("AP",), ("PA",)])
    b = GroupMetrics(groups[2:] + groups[:2], controls=[("PA",), ("AP",)])
    a.update([1, 0], y_pred=[1, 1], groups=[0, 3])
    b.update([1, 1], y_pred=[1, 0], groups=[0, 3])  # (PA, F) and (AP, M)
    rep = a.merge(b).compute()
    assert rep.by_group["count"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert rep.by_group["accuracy"].tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(InputError, match="'controls'"):
        GroupMetrics(groups, controls=[("AP",), ("PA",)]).merge(GroupMetrics(groups, controls=[("AP", "F"), ("x",)]))


@pytest.mark.parametrize("kwargs,name", [({"n_bins": 0}, "n_bins"), ({"auroc_bins": -1}, "auroc_bins"),
                                         ({"data_range_bins": 1.5}, "data_range_bins"),
                                         ({"min_group_size": 0}, "min_group_size"),
                                         ({"threshold": 1.5}, "threshold"), ({"threshold": "best"}, "threshold"),
                                         ({"zero_division": "nan"}, "zero_division")])
def test_bad_options_fail_at_construction(kwargs, name) -> None:
    with pytest.raises(InputError, match=name):
        GroupMetrics(2, **kwargs)


@pytest.mark.parametrize("kwargs,match", [({"n_boot": 0, "ci_quantiles": [0.5]}, "n_boot"),
                                          ({"n_boot": -3, "ci_quantiles": [0.5]}, "n_boot"),
                                          ({"n_boot": 5}, "ci_quantiles"),
                                          ({"ci_quantiles": [0.5]}, "n_boot"),
                                          ({"n_boot": 5, "ci_quantiles": [1.5]}, "ci_quantiles"),
                                          ({"n_boot": 5, "ci_quantiles": [0.5], "chunk": 0}, "chunk"),
                                          ({"n_boot": 5, "ci_quantiles": [0.5], "bootstrap": "x"}, "bootstrap")])
def test_bootstrap_counts_fail_at_the_call(kwargs, match) -> None:
    gm = GroupMetrics(2, ["accuracy"], keep_rows=True)
    gm.update([1, 0, 1], y_pred=[1, 1, 0], groups=[0, 1, 1])
    with pytest.raises(InputError, match=match):
        gm.compute(**kwargs)
