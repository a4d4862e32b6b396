"""Every bad-config case fails before any compute, naming the file, the key and a suggestion."""
from __future__ import annotations

import pytest

from fastxai.bench.config_load import load_config
from fastxai.bench.errors import ConfigError
from tests.bench.conftest import write_config

pytest.importorskip("pydantic")


@pytest.fixture
def good(tmp_path, syn_root, model_cache):
    return write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "out"), model_cache)


def _bad(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    msg = str(info.value)
    assert str(path) in msg  # the file is named
    return info.value


def test_good_config_loads_with_absolute_paths(good, syn_root):
    cfg = load_config(str(good))
    assert cfg.dataset.root == syn_root and cfg.run.out.startswith("/")
    assert cfg.dataset.preprocess.hw() == (32, 32)


def test_unknown_top_level_key(good):
    e = _bad(good, "[explain]", "[explian]")
    assert e.key == "explian" and "did you mean 'explain'" in e.message


def test_unknown_nested_key_suggests(good):
    e = _bad(good, "batch_size = 4", "batch_sise = 4")
    assert e.key == "run.batch_sise" and "did you mean 'batch_size'" in e.message


def test_unknown_key_in_a_list_section(good):
    e = _bad(good, 'name = "Saliency"', 'name = "Saliency"\nparmas = {}')
    assert e.key == "methods[0].parmas" and "did you mean 'params'" in e.message


def test_wrong_type(good):
    e = _bad(good, "batch_size = 4", 'batch_size = "four"')
    assert e.key == "run.batch_size" and "integer" in e.message and "four" in e.message


def test_out_of_range_value(good):
    e = _bad(good, "batch_size = 4", "batch_size = 0")
    assert e.key == "run.batch_size"


def test_missing_required_key(good):
    e = _bad(good, 'labels = ["lesion"]', "")
    assert e.key == "dataset.labels" and "missing" in e.message


def test_bad_literal_value(good):
    e = _bad(good, 'targets = "all"', 'targets = "everything"')
    assert e.key == "explain.targets"


def test_unknown_method_name(good):
    e = _bad(good, 'name = "Saliency"', 'name = "IntegratedGradient"')
    assert e.key == "methods[0].name" and "did you mean 'IntegratedGradients'" in e.message


def test_unknown_method_parameter(good):
    e = _bad(good, 'name = "Saliency"', 'name = "IntegratedGradients"\nparams = { n_step = 8 }')
    assert e.key == "methods[0].params.n_step" and "did you mean 'n_steps'" in e.message


def test_parameter_set_by_the_bench(good):
    e = _bad(good, 'name = "Saliency"', 'name = "Saliency"\nparams = { target = 1 }')
    assert e.key == "methods[0].params.target"


def test_layer_method_without_layer(good):
    e = _bad(good, 'name = "Saliency"', 'name = "LayerGradCam"')
    assert e.key == "methods[0].layer"


def test_layer_that_does_not_exist(good):
    e = _bad(good, 'name = "Saliency"', 'name = "LayerGradCam"\nlayer = "feature.6"')
    assert e.key == "methods[0].layer" and "did you mean 'features.6'" in e.message


def test_noise_tunnel_needs_wraps(good):
    e = _bad(good, 'name = "Saliency"', 'name = "NoiseTunnel"\nwraps = "Saliancy"')
    assert e.key == "methods[0].wraps" and "did you mean 'Saliency'" in e.message


def test_baseline_listed_as_method(good):
    e = _bad(good, 'name = "Saliency"', 'name = "baseline:centre"')
    assert "always included" in e.message


def test_unknown_metric(good):
    e = _bad(good, '"pointing_game"', '"pointing_gam"')
    assert e.key == "metrics.names[0]" and "did you mean 'pointing_game'" in e.message


def test_unknown_builtin_model(good):
    e = _bad(good, 'arch = "small_cnn"', 'arch = "small_cn"')
    assert e.key == "models[0].arch" and "did you mean 'small_cnn'" in e.message


def test_model_needs_one_source(good):
    e = _bad(good, 'arch = "small_cnn"', 'arch = "small_cnn"\nfactory = "x.y:z"')
    assert e.key == "models[0]"


def test_factory_that_does_not_import(good):
    e = _bad(good, 'arch = "small_cnn"', 'factory = "no_such_pkg.mod:make"')
    assert e.key == "models[0].factory" and "no_such_pkg" in e.message


def test_missing_weights_file(good):
    e = _bad(good, 'arch = "small_cnn"', 'arch = "small_cnn"\nweights = "nope.pt"')
    assert e.key == "models[0].weights"


def test_missing_csv_column(good):
    e = _bad(good, 'group_columns = ["sex", "site"]', 'group_columns = ["sex", "sites"]')
    assert e.key == "dataset.group_columns[1]" and "did you mean 'site'" in e.message


def test_missing_annotation_file(good):
    e = _bad(good, "[dataset.preprocess]", 'csv = "missing.csv"\n\n[dataset.preprocess]')
    assert e.key == "dataset.csv"


def test_fractions_must_sum_to_one(good):
    e = _bad(good, "train = 0.5", "train = 0.9")
    assert e.key == "split"


def test_evaluate_split_must_exist(good):
    e = _bad(good, "[split]", '[split]\nevaluate = "tset"')
    assert e.key == "split.evaluate" and "did you mean 'test'" in e.message


def test_duplicate_method_labels(good):
    e = _bad(good, 'name = "Saliency"', 'name = "Saliency"\n\n[[methods]]\nname = "Saliency"')
    assert "unique" in e.message


def test_unparsable_file(good):
    e = _bad(good, "[run]", "[run")
    assert "cannot parse" in e.message


def test_yaml_config(tmp_path, syn_root, model_cache):
    y = tmp_path / "c.yaml"
    y.write_text(f"""
run: {{out: {tmp_path / 'o'}, cache_dir: {model_cache}}}
dataset: {{root: {syn_root}, labels: [lesion], group_columns: [sex]}}
models: [{{name: cnn, arch: small_cnn}}]
methods: [{{name: Saliency}}]
""")
    cfg = load_config(str(y))
    assert cfg.methods[0].name == "Saliency" and cfg.dataset.group_columns == ["sex"]
    y.write_text(y.read_text().replace("Saliency", "Saliencyy"))
    with pytest.raises(ConfigError, match="did you mean 'Saliency'"):
        load_config(str(y))


def test_renamed_box_column_missing(good):
    e = _bad(good, "[dataset.preprocess]", 'box_columns = ["x0", "y0", "x1", "y_1"]\n\n[dataset.preprocess]')
    assert e.key == "dataset.box_columns[3]" and "'y_1'" in e.message and "did you mean 'y1'" in e.message


def test_patient_column_named_but_missing(good):
    e = _bad(good, "[dataset.preprocess]", 'patient_column = "patient"\n\n[dataset.preprocess]')
    assert e.key == "dataset.patient_column" and "did you mean 'patient_id'" in e.message


def test_localisation_metric_without_boxes_or_masks(tmp_path, syn_root, model_cache):
    import pandas as pd

    df = pd.read_csv(f"{syn_root}/annotations.csv").drop(columns=["x0", "y0", "x1", "y1"])
    df.to_csv(tmp_path / "nobox.csv", index=False)
    cfg = write_config(tmp_path / "c.toml", syn_root, str(tmp_path / "o"), model_cache,
                       metrics=["sparseness", "pointing_game"])
    cfg.write_text(cfg.read_text().replace("[dataset.preprocess]", f'csv = "{tmp_path / "nobox.csv"}"\n\n'
                                                                    "[dataset.preprocess]"))
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg))
    assert info.value.key == "metrics.names[1]" and "needs boxes or masks" in info.value.message
    load_config(str(cfg), {"metrics.names": ["sparseness"]})  # map-only metrics need no annotation


def test_overrides_reach_list_entries_and_bad_ones_are_named(good):
    cfg = load_config(str(good), {"models[0].train.epochs": 3, "methods[0].params": {"abs": False}})
    assert cfg.models[0].train.epochs == 3 and cfg.methods[0].params == {"abs": False}
    for key, where in (("models[5].train.epochs", "models[5]"), ("run.seed.x", "run.seed.x"),
                       ("run..seed", "run..seed")):
        with pytest.raises(ConfigError) as info:
            load_config(str(good), {key: 1})
        assert info.value.key == where and str(good) in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(str(good), {"run.batchsize": 8})
    assert info.value.key == "run.batchsize" and "did you mean 'batch_size'" in info.value.message


def test_mean_std_per_channel(good):
    e = _bad(good, "mean = [0.4]", "mean = [0.4, 0.4]")
    assert e.key == "dataset.preprocess" and "mean needs 1 or channels = 1 values, got 2" in e.message
