"""The ``fastxai bench`` config schema (pydantic models; every section forbids unknown keys).

A config is one TOML or YAML file with the sections below; ``docs/bench.md`` documents every
key. Paths are relative to the config file's folder. Loading and the checks that need the data
(CSV columns, method / metric / model names, layers) live in ``fastxai.bench.config_load``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(_Section):
    """Where results go and how the run behaves."""

    out: str = "fastxai_runs/run"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = Field(16, ge=1)
    num_workers: int = Field(0, ge=0)
    on_bad_file: Literal["skip", "fail"] = "skip"
    lease_seconds: float = Field(120.0, gt=0)
    save_maps: bool = False
    maps_dtype: Literal["float16", "float32"] = "float16"
    max_samples: int = Field(0, ge=0)
    cache_dir: str = ""
    torch_threads: int = Field(0, ge=0)
    report: bool = True


class PreprocessSection(_Section):
    """Image decoding and normalisation (applied to every image; boxes are rescaled with it)."""

    size: Union[int, Tuple[int, int]] = 64
    channels: Literal[1, 3] = 1
    mean: List[float] = [0.0]
    std: List[float] = [1.0]
    window: Union[Literal["auto", "none", "voi_lut"], Tuple[float, float]] = "auto"
    invert_monochrome1: bool = True

    @field_validator("std")
    @classmethod
    def _positive_std(cls, v: List[float]) -> List[float]:
        if any(s <= 0 for s in v):
            raise ValueError("every std must be > 0")
        return v

    @model_validator(mode="after")
    def _per_channel(self) -> "PreprocessSection":
        if min(self.hw()) < 1:
            raise ValueError(f"size must be positive, got {self.size}")
        for name in ("mean", "std"):
            n = len(getattr(self, name))
            if n not in (1, self.channels):
                raise ValueError(f"{name} needs 1 or channels = {self.channels} values, got {n}")
        return self

    def hw(self) -> Tuple[int, int]:
        """(H, W) of the model input."""
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)  # type: ignore[return-value]


class DatasetSection(_Section):
    """A folder of images plus one annotation file (see ``fastxai.bench.dataset``)."""

    root: str
    csv: str = "annotations.csv"
    format: Literal["csv", "nih", "coco", "voc"] = "csv"
    nih_boxes: str = ""
    name: str = ""
    image_column: str = "image"
    patient_column: str = "patient_id"
    finding_column: str = "finding"
    box_columns: Tuple[str, str, str, str] = ("x0", "y0", "x1", "y1")
    mask_column: str = ""
    labels: List[str] = Field(min_length=1)
    label_columns: Dict[str, str] = {}
    group_columns: List[str] = []
    split_column: str = ""
    task: Literal["multilabel", "multiclass"] = "multilabel"
    preprocess: PreprocessSection = PreprocessSection()


class SplitSection(_Section):
    """Patient-level split (ignored when ``dataset.split_column`` is set)."""

    fractions: Dict[str, float] = {"train": 0.6, "val": 0.2, "test": 0.2}
    seed: int = 0
    evaluate: str = "test"

    @model_validator(mode="after")
    def _check(self) -> "SplitSection":
        total = sum(self.fractions.values())
        if not self.fractions or any(v < 0 for v in self.fractions.values()) or abs(total - 1.0) > 1e-6:
            raise ValueError(f"fractions must be >= 0 and sum to 1, got {self.fractions} (sum {total:g})")
        return self


class TrainSection(_Section):
    """Training of a built-in model (``fastxai bench train``; cached by config hash)."""

    epochs: int = Field(5, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    split: str = "train"
    seed: int = 0
    augment: bool = False


class ModelSection(_Section):
    """A built-in architecture (``arch``) or a factory ``package.module:function`` (``factory``)."""

    name: str
    arch: str = ""
    factory: str = ""
    weights: str = ""
    params: Dict[str, Any] = {}
    train: TrainSection = TrainSection()

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSection":
        if bool(self.arch) == bool(self.factory):
            raise ValueError("give exactly one of `arch` (a built-in) or `factory` ('package.module:function')")
        if self.factory and ":" not in self.factory:
            raise ValueError(f"factory must look like 'package.module:function', got {self.factory!r}")
        return self


class MethodSection(_Section):
    """One attribution method of ``fastxai.attr`` with its parameters."""

    name: str
    label: str = ""
    params: Dict[str, Any] = {}
    init: Dict[str, Any] = {}
    layer: str = ""
    feature_mask: str = ""
    wraps: str = ""
    wraps_params: Dict[str, Any] = {}

    def key(self) -> str:
        """The method's label in results (``label`` or ``name``)."""
        return self.label or self.name


class RandomisationSection(_Section):
    """Model-parameter randomisation sanity check (Adebayo et al.) on the first samples."""

    enabled: bool = False
    n_samples: int = Field(8, ge=1)
    order: Literal["top_down", "bottom_up", "independent"] = "top_down"


class MetricsSection(_Section):
    """Per-sample metrics (see ``fastxai.bench.metrics.METRICS``)."""

    names: List[str] = ["pointing_game", "hit_rate", "energy_pointing_game", "relevance_mass", "iou_otsu",
                        "border_mass", "deletion_auc", "insertion_auc"]
    curve_steps: int = Field(16, ge=2)
    border: float = Field(0.1, gt=0, lt=0.5)
    max_batch: int = Field(64, ge=1)
    randomisation: RandomisationSection = RandomisationSection()


class ExplainSection(_Section):
    """Which (sample, class) pairs are explained."""

    targets: Literal["annotated", "positive", "all"] = "annotated"


class GroupsSection(_Section):
    """Per-group breakdowns with patient-level bootstrap CIs."""

    n_boot: int = Field(1000, ge=0)
    ci: float = Field(0.95, gt=0, lt=1)
    min_group_size: int = Field(10, ge=1)
    seed: int = 0


class CheXlocalizeSection(_Section):
    """cheXlocalize protocol: per-class thresholds tuned on ``val_split`` for mIoU, then test."""

    enabled: bool = False
    val_split: str = "val"
    n_thresholds: int = Field(20, ge=2)
    n_boot: int = Field(1000, ge=0)


class BenchConfig(_Section):
    """The whole config."""

    run: RunSection = RunSection()
    dataset: DatasetSection
    split: SplitSection = SplitSection()
    models: List[ModelSection] = Field(min_length=1)
    methods: List[MethodSection] = []
    metrics: MetricsSection = MetricsSection()
    explain: ExplainSection = ExplainSection()
    groups: GroupsSection = GroupsSection()
    chexlocalize: CheXlocalizeSection = CheXlocalizeSection()

    @model_validator(mode="after")
    def _unique_names(self) -> "BenchConfig":
        for kind, names in (("models", [m.name for m in self.models]), ("methods", [m.key() for m in self.methods])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{kind}: names must be unique (give `label`s); repeated: {dup}")
        return self


def section_fields(model: type) -> Optional[List[str]]:
    """Field names of a pydantic section class (for "did you mean" hints)."""
    return list(getattr(model, "model_fields", {}) or []) or None
