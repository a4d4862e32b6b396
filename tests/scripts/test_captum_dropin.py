"""The drop-in harness (scripts/captum_dropin.py) rewrites only imports, and the right ones."""
import ast
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("captum")

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "captum_dropin.py"
_spec = importlib.util.spec_from_file_location("captum_dropin", _PATH)
dropin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dropin)

SOURCE = '''\
import torch
from captum.attr import Saliency, LLMAttribution
from captum.attr._core.integrated_gradients import IntegratedGradients as IG
from captum.testing.helpers.basic import BaseTest
from captum._utils.common import _format_tensor_into_tuples


def f():
    from captum.attr._core.lime import (
        Lime,
        LimeBase,
    )
    return Lime, LimeBase
'''


def _imports(src):
    return sorted(
        (n.module, a.name, a.asname)
        for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom) for a in n.names
    )


def test_fx_rewrite_substitutes_exported_names_only():
    table, summary = dropin.substitution_table()
    used = {"fastxai": [], "captum": []}
    out = _imports(dropin.rewrite_source(SOURCE, table, used))
    assert ("fastxai.attr", "Saliency", None) in out
    assert ("fastxai.attr", "IntegratedGradients", "IG") in out
    assert ("fastxai.attr", "Lime", None) in out and ("fastxai.attr", "LimeBase", None) in out
    # out of scope (text / LLM) stays Captum's; non-attr Captum internals untouched
    assert ("captum.attr", "LLMAttribution", None) in out
    assert ("captum._utils.common", "_format_tensor_into_tuples", None) in out
    assert ("_captum_testing.helpers.basic", "BaseTest", None) in out
    assert "LLMAttribution" in summary["out_of_scope"] and "Saliency" in summary["substituted"]
    assert sorted(used["fastxai"]) == ["IntegratedGradients", "Lime", "LimeBase", "Saliency"]


def test_orig_rewrite_only_relocates_captum_testing():
    used = {"fastxai": [], "captum": []}
    new = dropin.rewrite_source(SOURCE, None, used)
    before, after = _imports(SOURCE), _imports(new)
    assert [i for i in before if not i[0].startswith("captum.testing")] == \
        [i for i in after if not i[0].startswith("_captum_testing")]
    assert new.replace("_captum_testing", "captum.testing") == SOURCE
