"""Load and validate a ``fastxai bench`` config before any compute.

``load_config(path)`` reads TOML (``tomllib`` / ``tomli``) or YAML, validates it with the
pydantic schema in ``fastxai.bench.config`` and then checks what needs the outside world: the
annotation file and its columns, method / metric / model names, import paths and layers. Every
failure raises ``ConfigError`` naming the file, the key (``methods[1].name``) and, where there is
one, a "did you mean" suggestion.
"""
from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from fastxai.bench.errors import ConfigError


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` (or ``""``)."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def key_path(loc: Sequence[Union[str, int]]) -> str:
    """('methods', 1, 'name') -> 'methods[1].name'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_config_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The raw mapping of a ``.toml`` / ``.yaml`` / ``.yml`` file (ConfigError if unreadable)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "", "config file not found")
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            try:
                import tomllib
            except ImportError:  # Python < 3.11
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes a config error
        raise ConfigError(str(p), "", f"cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(p), "", "the top level must be a mapping of sections")
    return data


def _section_class(cls: Any, loc: Sequence[Union[str, int]]) -> Any:
    """The pydantic class at ``loc`` below ``cls`` (None when not a section)."""
    from pydantic import BaseModel

    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(cls, "model_fields", None)
        if not fields or part not in fields:
            return None
        ann = fields[part].annotation
        candidates = [ann, *typing.get_args(ann)]
        cls = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if cls is None:
            return None
    return cls


def _pydantic_errors(file: str, exc: Any) -> ConfigError:
    from fastxai.bench.config import BenchConfig

    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = key_path(loc)
        if err["type"] == "extra_forbidden":
            parent = _section_class(BenchConfig, loc[:-1])
            fields = list(getattr(parent, "model_fields", {}) or [])
            lines.append(f"{key}: unknown key {loc[-1]!r}{suggest(str(loc[-1]), fields)}"
                         f" (allowed: {', '.join(fields)})")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key missing")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"{key}: {err['msg']}{shown}")
    return ConfigError(file, key_path(tuple(exc.errors()[0]["loc"])), "; ".join(lines))


def validate_mapping(data: Dict[str, Any], file: str = "<config>") -> Any:
    """Schema validation of a raw mapping -> ``BenchConfig`` (ConfigError on failure)."""
    from pydantic import ValidationError

    from fastxai.bench.config import BenchConfig

    try:
        return BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_errors(file, exc) from None


def resolve_paths(cfg: Any, base: Path) -> Any:
    """Make the config's paths absolute: ``~`` and ``$VAR`` expanded, relative ones against ``base``
    (the config's folder)."""
    def absolute(p: str) -> str:
        if not p:
            return p
        p = os.path.expanduser(os.path.expandvars(p))
        return str(p if os.path.isabs(p) else (base / p).resolve())

    cfg.run.out = absolute(cfg.run.out)
    cfg.run.cache_dir = absolute(cfg.run.cache_dir)
    cfg.dataset.root = absolute(cfg.dataset.root)
    for m in cfg.models:
        m.weights = absolute(m.weights)
    return cfg


def _override_parts(dotted: str) -> List[Union[str, int]]:
    """``"models[0].train.epochs"`` -> ``["models", 0, "train", "epochs"]``."""
    import re

    out: List[Union[str, int]] = []
    for piece in dotted.split("."):
        m = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", piece.strip())
        if not m:
            raise ValueError(piece)
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return out


def apply_override(data: Dict[str, Any], dotted: str, value: Any, file: str = "<config>") -> None:
    """Set ``dotted`` (``run.batch_size``, ``models[0].train.epochs``) in the raw mapping, in place.

    Missing sections are created (the schema then rejects unknown keys); a list index past the
    end or a key below a plain value raises ``ConfigError`` naming the override."""
    try:
        path = _override_parts(dotted)
    except ValueError:
        raise ConfigError(file, dotted, f"override key {dotted!r} is not a dotted key such as "
                          "'run.batch_size' or 'models[0].train.epochs'") from None
    node: Any = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        where = key_path(path[:i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                n = len(node) if isinstance(node, list) else 0
                raise ConfigError(file, where, f"override {dotted!r}: {key_path(path[:i]) or 'the top level'} "
                                  f"has {n} entries (not a list, or index too large)")
        elif not isinstance(node, dict):
            raise ConfigError(file, where, f"override {dotted!r}: {key_path(path[:i])} is a value, not a section")
        if last:
            node[part] = value
        elif isinstance(part, int):
            node = node[part]
        else:
            node = node.setdefault(part, {} if isinstance(path[i + 1], str) else [])


def load_config(path: Union[str, os.PathLike], overrides: Optional[Dict[str, Any]] = None,
                check_data: bool = True) -> Any:
    """Read, validate and check a config file. Returns a ``BenchConfig`` with absolute paths.

    ``overrides``: dotted keys applied before validation (``{"run.out": "/tmp/x",
    "models[0].train.epochs": 1}``; see ``apply_override``).
    ``check_data``: also run the checks that read the annotation file and build the models.
    """
    file = str(path)
    data = read_config_file(path)
    for dotted, value in (overrides or {}).items():
        apply_override(data, dotted, value, file)
    cfg = resolve_paths(validate_mapping(data, file), Path(path).resolve().parent)
    if check_data:
        check_config(cfg, file)
    return cfg


def check_config(cfg: Any, file: str = "<config>") -> None:
    """The checks beyond the schema: names, columns, import paths, layers (ConfigError)."""
    from fastxai.bench import checks

    checks.check_names(cfg, file)
    checks.check_dataset(cfg, file)
    checks.check_models(cfg, file)


def format_error_list(errors: List[str]) -> str:
    """One message from several problems."""
    return "; ".join(errors)
