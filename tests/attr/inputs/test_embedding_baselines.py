"""Embedding helpers, TokenReferenceBase and ProductBaselines behave as Captum 0.9's."""
import random

import pytest
import torch
from torch import nn

import fastxai.attr as fa

captum_attr = pytest.importorskip("captum.attr")


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Module()
        self.enc.embedding = nn.Embedding(11, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.enc.embedding(x).mean(1))


def test_embedding_layer_round_trip_and_ig_parity():
    torch.manual_seed(0)
    net = _Net()
    ids = torch.tensor([[1, 5, 7], [2, 2, 9]])
    expected = net(ids)
    original = net.enc.embedding
    with pytest.warns(UserWarning, match="interpretable embedding"):
        emb = fa.configure_interpretable_embedding_layer(net, "enc.embedding")
    assert isinstance(emb, fa.InterpretableEmbeddingBase) and net.enc.embedding is emb
    assert (emb.num_embeddings, emb.embedding_dim, emb.full_name) == (11, 4, "enc.embedding")
    vecs = emb.indices_to_embeddings(ids)
    torch.testing.assert_close(net.head(net.enc.embedding(vecs).mean(1)), expected)
    assert emb(x=vecs) is vecs
    with pytest.raises(AssertionError, match="already been configured"):
        fa.configure_interpretable_embedding_layer(net, "enc.embedding")
    ref = fa.TokenReferenceBase(reference_token_idx=0).generate_reference(3, device=torch.device("cpu"))
    base = emb.indices_to_embeddings(ref.unsqueeze(0))
    ours = fa.IntegratedGradients(net).attribute(vecs, baselines=base, target=1)
    theirs = captum_attr.IntegratedGradients(net).attribute(vecs, baselines=base, target=1)
    torch.testing.assert_close(ours, theirs)
    fa.remove_interpretable_embedding_layer(net, emb)
    assert net.enc.embedding is original
    with pytest.raises(AssertionError, match="No input"):
        emb()


def test_token_reference_matches_captum():
    for mod in (fa, captum_attr):
        r = mod.TokenReferenceBase(3).generate_reference(4, torch.device("cpu"))
        assert r.tolist() == [3, 3, 3, 3] and r.dtype == torch.int64


@pytest.mark.parametrize("values", [
    [[1, 2, 3], ["a", "b"], [0.5]],
    {"age": [30, 40, 50], ("x", "y"): [(1, 2), (3, 4)], "z": ["q"]},
])
def test_product_baselines_same_draws_as_captum(values):
    ours, theirs = fa.ProductBaselines(values), captum_attr.ProductBaselines(values)
    random.seed(7)
    got = [ours() for _ in range(20)]
    random.seed(7)
    want = [theirs() for _ in range(20)]
    assert got == want
    assert len({str(g) for g in got}) > 1
