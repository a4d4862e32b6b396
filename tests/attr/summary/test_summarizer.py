"""Summarizer / stats: Captum 0.9's numbers (incl. its Welford variance), batch updates equal to
row updates, merges across shards equal to one pass, pickling."""
import pickle

import pytest
import torch

import fastxai.attr as fa
from fastxai._captum.errors import InputError

captum_attr = pytest.importorskip("captum.attr")

ALL = ["Mean", "Var", "StdDev", "MSE", "Min", "Max", "Sum", "Count"]


def _stats(mod, orders=(0, 1, 2)):
    out = [getattr(mod, n)() for n in ALL]
    out += [mod.Var(order=k) for k in orders] + [mod.StdDev(order=k) for k in orders]
    return out


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)


def assert_summary_close(got, expected, precise=False):
    """Same keys, dtypes, shapes; values to float32 rounding (float64 rounding when ``precise``:
    Captum derives float64 variances of float32 input from float32 sums)."""
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_summary_close(g, e, precise)
        return
    assert set(got) == set(expected)
    for key, e in expected.items():
        g = got[key]
        if e is None or isinstance(e, int):
            assert g == e, key
            continue
        assert g.dtype == e.dtype, (key, g.dtype, e.dtype)
        assert g.shape == e.shape, key
        tol = _tol(torch.float64 if precise else torch.float32)
        torch.testing.assert_close(g.to(torch.float64), e.to(torch.float64), **tol, msg=key)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("n", [1, 2, 3, 37])
def test_single_tensor_matches_captum(dtype, n):
    data = (torch.randn(n, 4, 3) * 5 + 2).to(dtype)
    ours, theirs = fa.Summarizer(_stats(fa)), captum_attr.Summarizer(_stats(captum_attr))
    assert ours.summary is None and theirs.summary is None
    for row in data:
        ours.update(row)
        theirs.update(row)
    assert_summary_close(ours.summary, theirs.summary, precise=dtype != torch.float32)


def test_common_stats_tuple_and_float_matches_captum():
    ours, theirs = fa.Summarizer(fa.CommonStats()), captum_attr.Summarizer(captum_attr.CommonStats())
    for _ in range(11):
        x = (torch.randn(5), torch.randn(2, 2).double(), float(torch.randn(())))
        ours.update(x)
        theirs.update(x)
    assert_summary_close(ours.summary, theirs.summary)
    assert {s["mean"].dtype for s in ours.summary} == {torch.float32, torch.float64}


def test_welford_on_large_offset_matches_captum_and_float64_truth():
    # variance of values around 1e4 with spread 1e-2: the naive E[x^2]-E[x]^2 loses every digit
    data = (1e4 + 1e-2 * torch.randn(200, 6)).double()
    ours, theirs = fa.Summarizer([fa.Var(order=1), fa.StdDev()]), captum_attr.Summarizer(
        [captum_attr.Var(order=1), captum_attr.StdDev()])
    for row in data:
        ours.update(row)
        theirs.update(row)
    torch.testing.assert_close(ours.summary["sample_variance"], data.var(0), rtol=1e-9, atol=0)
    assert_summary_close(ours.summary, theirs.summary, precise=True)


def test_update_batch_equals_row_updates_and_chunking():
    data = torch.randn(50, 3, 2, dtype=torch.float64)
    rows = fa.Summarizer(_stats(fa))
    for r in data:
        rows.update(r)
    one = fa.Summarizer(_stats(fa))
    one.update_batch(data)
    chunks = fa.Summarizer(_stats(fa))
    for part in torch.split(data, [1, 7, 13, 29]):
        chunks.update_batch(part)
    assert_summary_close(one.summary, rows.summary, precise=True)
    assert_summary_close(chunks.summary, rows.summary, precise=True)


@pytest.mark.parametrize("tuple_input", [False, True])
def test_merge_of_shards_equals_one_pass(tuple_input):
    data = torch.randn(60, 4)
    extra = torch.randint(-5, 5, (60, 2), dtype=torch.int32)
    whole = fa.Summarizer(_stats(fa))
    whole.update_batch((data, extra) if tuple_input else data)
    shards = []
    for idx in torch.split(torch.arange(60), [1, 20, 39]):
        s = fa.Summarizer(_stats(fa))
        for i in idx:  # shards updated row by row, Captum style
            s.update((data[i], extra[i]) if tuple_input else data[i])
        shards.append(pickle.loads(pickle.dumps(s)))  # shards travel between processes
    merged = fa.Summarizer(_stats(fa))
    merged.merge(fa.Summarizer(_stats(fa)))  # an empty shard changes nothing
    for s in shards:
        merged.merge(s)
    assert_summary_close(merged.summary, whole.summary)
    # merge then keep updating: equal to updating the whole stream
    merged.update_batch((data[:5], extra[:5]) if tuple_input else data[:5])
    whole.update_batch((data[:5], extra[:5]) if tuple_input else data[:5])
    assert_summary_close(merged.summary, whole.summary)


def test_stats_are_metric_states():
    from fastxai.eval import Metric

    mean = fa.Mean()
    assert isinstance(mean, Metric)
    s = fa.Summarizer([fa.Mean(), fa.Max()])
    s.update_batch(torch.arange(6.0).reshape(3, 2))
    stat = s._summarizers[0].get(fa.Max())
    assert stat.compute().tolist() == [4.0, 5.0]
    stat.reset()
    assert stat.get() is None


def test_merge_refuses_different_stats_and_forms():
    a, b = fa.Summarizer([fa.Mean()]), fa.Summarizer([fa.Max()])
    a.update(torch.ones(2))
    b.update(torch.ones(2))
    with pytest.raises(InputError, match="different statistics"):
        a.merge(b)
    c = fa.Summarizer([fa.Mean()])
    c.update((torch.ones(2),))
    with pytest.raises(InputError, match="tuple"):
        a.merge(c)
    m1, m2 = fa.Min(), fa.Min(min_fn=torch.minimum)
    m1.update(torch.ones(1))
    m2.update(torch.ones(1))
    with pytest.raises(InputError, match="fn"):
        m1.merge(m2)


def test_custom_fn_and_mixed_dtypes_match_captum():
    def fn(a, b):
        return torch.minimum(a, b) - 1

    ours, theirs = fa.Summarizer([fa.Min(min_fn=fn), fa.Sum(), fa.Max()]), captum_attr.Summarizer(
        [captum_attr.Min(min_fn=fn), captum_attr.Sum(), captum_attr.Max()])
    for x in [torch.tensor([3, 1], dtype=torch.int32), torch.tensor([2.5, 0.5]), torch.tensor([1, 7], dtype=torch.int32)]:
        ours.update(x)
        theirs.update(x)
    assert_summary_close(ours.summary, theirs.summary)


def test_bad_input_raises_naming_it():
    s = fa.Summarizer([fa.Mean()])
    s.update(torch.ones(3))
    with pytest.raises(InputError, match="shape"):
        s.update(torch.ones(4))
    with pytest.raises(InputError, match="tuple"):
        s.update((torch.ones(3),))
    with pytest.raises(InputError, match="batch"):
        fa.Summarizer([fa.Mean()]).update_batch((torch.ones(3, 2), torch.ones(4, 2)))
    with pytest.raises(InputError, match="Summarizer"):
        fa.Var().get()


def test_names_hash_and_dedup_like_captum():
    for mod in (fa, captum_attr):
        assert [s.name for s in mod.CommonStats()] == ["mean", "sample_variance", "sample_std_dev", "min", "max"]
        assert mod.Var(order=3).name == "variance(3)" and mod.Mean(name="m").name == "m"
        assert mod.Var(order=1) == mod.Var(order=1, name="x") and hash(mod.Mean()) == hash(mod.Mean())
    ours = fa.Summarizer([fa.Mean(), fa.Mean(), fa.StdDev(order=1)])
    ours.update(torch.ones(2))
    assert sorted(ours.summary) == ["mean", "sample_std_dev"]
