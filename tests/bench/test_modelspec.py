"""Models from a config: factory + state dict (``weights_only``), no pickled code, training cache."""
from __future__ import annotations

import pickle

import pytest
import torch

from fastxai.bench.config import ModelSection
from fastxai.bench.config_load import load_config
from fastxai.bench.modelspec import build_model, weights_hash
from tests.bench.conftest import write_config

pytest.importorskip("pydantic")

FACTORY = """
from torch import nn

def make(width=2):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 1))
"""


@pytest.fixture
def cfg(tmp_path, syn_root, model_cache):
    return load_config(str(write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "o"), model_cache)))


def test_factory_with_weights(tmp_path, cfg, monkeypatch):
    (tmp_path / "my_models_h3.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_models_h3

    torch.manual_seed(1)
    ref = my_models_h3.make(width=3)
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    spec = ModelSection(name="m", factory="my_models_h3:make", weights=str(tmp_path / "w.pt"), params={"width": 3})
    model = build_model(spec, cfg)
    assert not model.training and weights_hash(model) == weights_hash(ref)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model(x), ref.eval()(x))
    spec.params = {"width": 4}
    with pytest.raises(RuntimeError, match="size mismatch"):  # weights that do not fit are refused
        build_model(spec, cfg)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_never_loaded(tmp_path, cfg):
    marker = tmp_path / "executed"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"weight": _Payload(str(marker))}, f, protocol=2)
    spec = ModelSection(name="m", arch="small_cnn", weights=str(tmp_path / "evil.pt"), params={"width": 4})
    with pytest.raises(pickle.UnpicklingError):
        build_model(spec, cfg)
    assert not marker.exists()


def test_training_is_cached_by_config_hash(cfg, monkeypatch):
    from fastxai.bench import train
    from fastxai.bench.dataset import build_table

    table = build_table(cfg)
    spec = cfg.models[0]
    path = train.trained_weights(spec, cfg, table)  # trains, or finds the session's cached model

    def no_training(*a, **k):
        raise AssertionError("retrained a cached model")

    monkeypatch.setattr(train, "train_model", no_training)
    assert train.trained_weights(spec, cfg, table) == path
    spec.train.epochs = 2  # a changed training config is another model
    with pytest.raises(AssertionError, match="retrained"):
        train.trained_weights(spec, cfg, table)
