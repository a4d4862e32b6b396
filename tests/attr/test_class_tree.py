"""fastxai's class tree is Captum's: the same subclass relations between the method classes
Captum has (``Occlusion`` is a ``FeatureAblation``, ``KernelShap`` a ``Lime``, ...), no others,
and the same Captum base classes."""
import pytest

captum_attr = pytest.importorskip("captum.attr")
import fastxai.attr as fa  # noqa: E402

BASES = {"Attribution", "GradientAttribution", "LayerAttribution", "PerturbationAttribution", "NeuronAttribution"}


def _shared():
    return [n for n in fa.__all__ if isinstance(getattr(fa, n), type) and issubclass(getattr(fa, n), fa.Attribution)
            and hasattr(captum_attr, n) and n not in BASES]


def test_subclass_relations_are_captums():
    names = _shared()
    assert {"FeatureAblation", "Occlusion", "FeaturePermutation", "Lime", "LimeBase", "KernelShap",
            "ShapleyValueSampling", "ShapleyValues", "DeepLift", "DeepLiftShap", "LayerDeepLift",
            "LayerDeepLiftShap", "LRP", "LayerLRP", "GuidedBackprop", "NeuronGradient"} <= set(names)
    diff = [(a, b) for a in names for b in names if a != b
            and issubclass(getattr(fa, a), getattr(fa, b)) != issubclass(getattr(captum_attr, a), getattr(captum_attr, b))]
    assert diff == []


def test_base_classes_are_captums():
    for n in _shared():
        ours = {c.__name__ for c in getattr(fa, n).__mro__ if c.__name__ in BASES}
        theirs = {c.__name__ for c in getattr(captum_attr, n).__mro__ if c.__name__ in BASES}
        assert ours == theirs, n


def test_fastxai_only_methods_subclass_no_method():
    methods = {getattr(fa, n) for n in fa.__all__ if isinstance(getattr(fa, n), type)
               and issubclass(getattr(fa, n), fa.Attribution) and n not in BASES}
    for n in ("RISE", "GradCAMPlusPlus", "XGradCAM", "EigenCAM", "ScoreCAM", "AttentionRollout"):
        cls = getattr(fa, n)
        parents = {m for m in methods if m is not cls and issubclass(cls, m)}
        assert not parents - {fa.LayerAttribution}, (n, parents)
