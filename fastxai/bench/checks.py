"""Config checks beyond the schema, run before any compute (each raises ``ConfigError``)."""
from __future__ import annotations

import os
from typing import Any, List

from fastxai.bench.config_load import suggest
from fastxai.bench.errors import ConfigError


def check_names(cfg: Any, file: str) -> None:
    """Method names and their parameters, metric names, built-in model names."""
    from fastxai.bench import baselines, methods, metrics
    from fastxai.models import MODELS

    known = methods.available_methods()
    for i, m in enumerate(cfg.methods):
        key = f"methods[{i}]"
        if m.name in baselines.BASELINES:
            raise ConfigError(file, f"{key}.name", f"{m.name!r} is a trivial baseline, always included; remove it")
        if m.name not in known:
            raise ConfigError(file, f"{key}.name", f"unknown method {m.name!r}{suggest(m.name, known)}")
        if m.name == "NoiseTunnel":
            if m.wraps not in known or m.wraps == "NoiseTunnel":
                raise ConfigError(file, f"{key}.wraps", f"NoiseTunnel needs `wraps` = a method name, got {m.wraps!r}"
                                  f"{suggest(m.wraps, known)}")
        elif m.wraps:
            raise ConfigError(file, f"{key}.wraps", "only NoiseTunnel wraps another method")
        allowed = methods.attribute_params(methods.method_class(m.name))
        if m.name == "NoiseTunnel":
            allowed += methods.attribute_params(methods.method_class(m.wraps))
        for p in m.params:
            if p in methods.SET_BY_BENCH or (p == "feature_mask"):
                raise ConfigError(file, f"{key}.params.{p}", f"{p!r} is set by the bench"
                                  + ("; use methods[].feature_mask" if p == "feature_mask" else ""))
            if p not in allowed:
                raise ConfigError(file, f"{key}.params.{p}", f"{m.name}.attribute() has no parameter {p!r}"
                                  f"{suggest(p, allowed)}")
        inner = m.wraps if m.name == "NoiseTunnel" else m.name
        if methods.needs_layer(inner) and not m.layer:
            raise ConfigError(file, f"{key}.layer", f"{inner} needs `layer` (a module path such as 'features.6')")
        if m.feature_mask and m.feature_mask.partition(":")[0] not in ("grid", "slic", "felzenszwalb", "quickshift"):
            raise ConfigError(file, f"{key}.feature_mask", f"expected 'grid:K' or 'slic:K', got {m.feature_mask!r}")
    for j, name in enumerate(cfg.metrics.names):
        if name not in metrics.METRICS:
            raise ConfigError(file, f"metrics.names[{j}]", f"unknown metric {name!r}{suggest(name, metrics.METRICS)}")
    for i, m in enumerate(cfg.models):
        if m.arch and m.arch not in MODELS:
            raise ConfigError(file, f"models[{i}].arch", f"unknown built-in model {m.arch!r}{suggest(m.arch, MODELS)}")
        if m.weights and not os.path.isfile(m.weights):
            raise ConfigError(file, f"models[{i}].weights", f"weights file not found: {m.weights}")


def _columns(cfg: Any) -> List[str]:
    from fastxai.bench.adapters import to_canonical

    return list(to_canonical(cfg.dataset).columns)


def check_dataset(cfg: Any, file: str) -> None:
    """The annotation file exists and has every column the config names."""
    ds = cfg.dataset
    if not os.path.isdir(ds.root):
        raise ConfigError(file, "dataset.root", f"folder not found: {ds.root}")
    path = os.path.join(ds.root, ds.csv)
    if not os.path.exists(path):
        raise ConfigError(file, "dataset.csv", f"annotation file not found: {path}")
    try:
        cols = _columns(cfg)
    except Exception as exc:  # noqa: BLE001 - unreadable annotations are a config problem
        raise ConfigError(file, "dataset.csv", f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    named = [("dataset.image_column", ds.image_column)]
    named += [(f"dataset.group_columns[{i}]", c) for i, c in enumerate(ds.group_columns)]
    named += [(f"dataset.label_columns.{k}", c) for k, c in ds.label_columns.items()]
    for opt, col in (("dataset.mask_column", ds.mask_column), ("dataset.split_column", ds.split_column)):
        if col:
            named.append((opt, col))
    for key, col in named:
        if col not in cols:
            raise ConfigError(file, key, f"column {col!r} not in {path}{suggest(col, cols)} (columns: {', '.join(cols)})")
    _check_annotation_columns(cfg, file, path, cols)
    for k in ds.label_columns:
        if k not in ds.labels:
            raise ConfigError(file, f"dataset.label_columns.{k}", f"{k!r} is not one of dataset.labels {ds.labels}")
    if ds.split_column:
        return
    if cfg.split.evaluate not in cfg.split.fractions:
        raise ConfigError(file, "split.evaluate", f"split {cfg.split.evaluate!r} is not one of split.fractions "
                          f"{list(cfg.split.fractions)}{suggest(cfg.split.evaluate, cfg.split.fractions)}")
    if cfg.chexlocalize.enabled and cfg.chexlocalize.val_split not in cfg.split.fractions:
        raise ConfigError(file, "chexlocalize.val_split", f"split {cfg.chexlocalize.val_split!r} is not one of "
                          f"split.fractions {list(cfg.split.fractions)}")


def _check_annotation_columns(cfg: Any, file: str, path: str, cols: List[str]) -> None:
    """Box / finding / patient columns the config relies on exist; localisation metrics have annotations."""
    from fastxai.bench.config import DatasetSection
    from fastxai.bench.metrics import LOCALISATION

    ds = cfg.dataset
    defaults = DatasetSection.model_fields
    have_boxes = [c in cols for c in ds.box_columns]
    if any(have_boxes) or tuple(ds.box_columns) != tuple(defaults["box_columns"].default):
        for i, (col, ok) in enumerate(zip(ds.box_columns, have_boxes)):
            if not ok:
                raise ConfigError(file, f"dataset.box_columns[{i}]", f"column {col!r} not in {path}"
                                  f"{suggest(col, cols)} (columns: {', '.join(cols)})")
    if (all(have_boxes) or ds.mask_column) and ds.finding_column not in cols:
        raise ConfigError(file, "dataset.finding_column", f"column {ds.finding_column!r} not in {path}"
                          f"{suggest(ds.finding_column, cols)}: boxes and masks need the finding they mark")
    if ds.patient_column != defaults["patient_column"].default and ds.patient_column not in cols:
        raise ConfigError(file, "dataset.patient_column", f"column {ds.patient_column!r} not in {path}"
                          f"{suggest(ds.patient_column, cols)} (columns: {', '.join(cols)})")
    if not all(have_boxes) and not ds.mask_column:
        if cfg.chexlocalize.enabled:
            raise ConfigError(file, "chexlocalize.enabled", f"the cheXlocalize protocol needs boxes or masks, but "
                              f"{path} has no box columns {list(ds.box_columns)} and dataset.mask_column is not set")
        for j, name in enumerate(cfg.metrics.names):
            if name in LOCALISATION:
                raise ConfigError(file, f"metrics.names[{j}]", f"{name!r} needs boxes or masks, but {path} has no "
                                  f"box columns {list(ds.box_columns)} and dataset.mask_column is not set")


def check_models(cfg: Any, file: str) -> None:
    """Factories import and build; layers named by methods exist in every model."""
    from fastxai.bench import methods
    from fastxai.bench.modelspec import construct

    for i, spec in enumerate(cfg.models):
        try:
            model = construct(spec, cfg)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be built is a config problem
            key = "factory" if spec.factory else "params"
            raise ConfigError(file, f"models[{i}].{key}", f"cannot build model {spec.name!r}: "
                              f"{type(exc).__name__}: {exc}") from exc
        paths = [n for n, _ in model.named_modules() if n]
        for j, m in enumerate(cfg.methods):
            if m.layer:
                try:
                    methods.resolve_layer(model, m.layer)
                except KeyError:
                    raise ConfigError(file, f"methods[{j}].layer", f"model {spec.name!r} has no layer {m.layer!r}"
                                      f"{suggest(m.layer, paths)}") from None
