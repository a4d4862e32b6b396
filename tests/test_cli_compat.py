"""``fastxai compat``: the command form of fastxai.compat.check."""
import json
import sys

import pytest
import torch

from fastxai.cli import main

pytest.importorskip("captum.attr")


def test_builtin_model_json(capsys):
    rc = main(["compat", "--method", "Saliency", "--model", "builtin:small_cnn", "--inputs", "shape:2,1,28,28",
               "--target", "1", "--repeats", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["close"] and report["shapes"] == [[2, 1, 28, 28]]


def test_factory_model_inputs_file_and_layer(tmp_path, capsys):
    path = tmp_path / "x.pt"
    torch.save(torch.randn(3, 6), path)
    rc = main(["compat", "--method", "LayerGradientXActivation", "--model", "tests.compat_models:mlp",
               "--model-kwargs", '{"d_out": 4}', "--layer", "1", "--inputs", str(path),
               "--kwargs", '{"target": 3}', "--repeats", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "same numbers" in out and "speedup" in out


def test_usage_errors(capsys, monkeypatch):
    assert main(["compat", "--method", "Saliency"]) == 2
    assert "--model, --inputs" in capsys.readouterr().out
    assert main(["compat", "--method", "Salincy", "--model", "builtin:small_cnn", "--inputs", "shape:1,1,28,28"]) == 2
    assert "did you mean 'Saliency'" in capsys.readouterr().out
    assert main(["compat", "--method", "Saliency", "--model", "builtin:small_cnn", "--inputs", "shape:a"]) == 2
    assert "shape:N,C,H,W" in capsys.readouterr().out
    assert main(["compat", "--list"]) == 0
    assert "IntegratedGradients" in capsys.readouterr().out.split()
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    assert main(["compat", "--method", "Saliency", "--model", "builtin:small_cnn", "--inputs",
                 "shape:1,1,28,28"]) == 2
    assert "Captum is not installed" in capsys.readouterr().out
