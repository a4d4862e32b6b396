"""The built-in architectures: shapes, parameter counts against the published layouts,
traceability (torch.fx) and the by-name registry."""
import pytest
import torch
import torch.fx

from fastxai.models import MODELS, get_model, resnet18


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_and_eval_determinism(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name, in_channels=1, num_classes=3).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 3)
        assert torch.isfinite(y).all()
        assert torch.equal(model(x[:1]), model(x)[:1]) or torch.allclose(model(x[:1]), y[:1], atol=1e-5)


def test_resnet18_matches_torchvision_parameter_count() -> None:
    # torchvision's resnet18 (3 channels, 1,000 classes) has 11,689,512 parameters.
    assert sum(p.numel() for p in resnet18(3, 1000).parameters()) == 11_689_512


@pytest.mark.parametrize("name", ["small_cnn", "resnet18", "vgg_small", "densenet_small"])
def test_conv_nets_trace_with_fx(name: str) -> None:
    model = get_model(name, in_channels=1, num_classes=2).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(traced(x), model(x))


def test_modules_are_not_reused() -> None:
    # DeepLift / LRP need each nonlinearity module called once per forward.
    model = get_model("resnet_small").eval()
    calls: dict = {}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls.get(id(m), 0) + 1))
             for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    model(torch.randn(1, 1, 64, 64))
    for h in hooks:
        h.remove()
    assert calls and max(calls.values()) == 1


def test_unknown_name_suggests() -> None:
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        get_model("resnet-18")


def test_vit_rejects_wrong_size() -> None:
    with pytest.raises(ValueError, match="patches"):
        get_model("tiny_vit", image_size=64)(torch.randn(1, 1, 32, 32))
