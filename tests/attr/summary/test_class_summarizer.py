"""ClassSummarizer: Captum 0.9's numbers per class and overall; merges by label."""
import pickle

import pytest
import torch

import fastxai.attr as fa
from fastxai._captum.errors import InputError
from tests.attr.summary.test_summarizer import assert_summary_close

captum_attr = pytest.importorskip("captum.attr")


def _pair():
    return fa.ClassSummarizer(fa.CommonStats() + [fa.Count()]), captum_attr.ClassSummarizer(
        captum_attr.CommonStats() + [captum_attr.Count()])


def _assert_same(ours, theirs):
    assert_summary_close(ours.summary, theirs.summary)
    assert set(ours.class_summaries) == set(theirs.class_summaries)
    for key, summ in theirs.class_summaries.items():
        assert_summary_close(ours.class_summaries[key], summ)


@pytest.mark.parametrize("labels_of", [
    lambda i, n: [int(v) for v in torch.randint(0, 3, (n,))],       # one label per row
    lambda i, n: ["apple", "pear"][i % 2],                             # one label for the batch
    lambda i, n: [i % 2],                                              # a list of one label
])
def test_matches_captum(labels_of):
    ours, theirs = _pair()
    for i in range(6):
        x = (torch.randn(4, 3, 2), torch.randn(4, 1).double())
        labels = labels_of(i, 4)
        ours.update(x, labels)
        theirs.update(x, labels)
    _assert_same(ours, theirs)


def test_no_labels_is_one_observation_like_captum():
    ours, theirs = _pair()
    for _ in range(5):
        x = torch.randn(7, 2)
        ours.update(x)
        theirs.update(x)
    _assert_same(ours, theirs)
    assert ours.class_summaries == {}


def test_tensor_labels_keyed_by_value():
    ours, theirs = _pair()
    x = torch.randn(6, 2)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    ours.update(x, labels)
    theirs.update(x, labels.tolist())  # Captum keys tensor labels by object; a list is its intended form
    _assert_same(ours, theirs)
    assert sorted(ours.class_summaries) == [0, 1, 2]


def test_merge_by_label_equals_one_pass():
    x, y = torch.randn(40, 3), torch.randint(0, 4, (40,))
    whole = fa.ClassSummarizer(fa.CommonStats())
    whole.update(x, y)
    a, b = fa.ClassSummarizer(fa.CommonStats()), fa.ClassSummarizer(fa.CommonStats())
    a.update(x[:15], y[:15])
    b.update(x[15:], y[15:])
    a.merge(pickle.loads(pickle.dumps(b)))
    assert_summary_close(a.summary, whole.summary)
    assert set(a.class_summaries) == set(whole.class_summaries)
    for key, summ in whole.class_summaries.items():
        assert_summary_close(a.class_summaries[key], summ)


def test_wrong_number_of_labels_names_labels():
    s = fa.ClassSummarizer(fa.CommonStats())
    with pytest.raises(InputError, match="labels"):
        s.update(torch.randn(4, 2), [0, 1, 2])
