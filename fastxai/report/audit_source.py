"""Where ``fastxai audit`` gets its table of images: a bench run folder (through the reader API)
or a bench config (through the bench's own dataset loader, so the audit sees exactly the images,
groups and boxes a benchmark of that config would)."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Tuple, Union

from fastxai.report.audit import Audit, audit_dataset, image_stats


def _from_run(run_dir: Path, min_group_size: int, with_stats: bool) -> Audit:
    from fastxai.report.data import load_run

    data = load_run(run_dir)
    ids = list(data.samples["sample_id"])
    imgs = data.images(ids) if with_stats else None
    ok = imgs is not None and imgs.ndim == 4
    return audit_dataset(data.samples, data.boxes, group_columns=data.group_columns,
                         stats=image_stats(ids, imgs) if ok else None,
                         box_frame=tuple(imgs.shape[-2:]) if ok else None, min_group_size=min_group_size)


def _from_config(config: Path, min_group_size: int, with_stats: bool) -> Audit:
    from fastxai.report.dataset_view import dataset_view

    view = dataset_view(config, with_stats=with_stats)
    return audit_dataset(view.samples, view.boxes, group_columns=view.group_columns, stats=view.stats,
                         labels=[f"y_{lab}" for lab in view.labels], box_frame=view.box_frame,
                         min_group_size=min_group_size)


def load_audit(source: Union[str, Path], min_group_size: int = 30, image_stats: bool = True) -> Audit:
    """Audit a run folder (has run.json) or a bench config file."""
    p = Path(source)
    if p.is_dir():
        return _from_run(p, min_group_size, image_stats)
    if not p.exists():
        raise FileNotFoundError(f"config: no such file or folder: {p}")
    return _from_config(p, min_group_size, image_stats)


def audit_page(source: Union[str, Path], out: Union[str, Path], min_group_size: int = 30,
               image_stats: bool = True) -> Tuple[Audit, Path]:
    """Audit ``source`` and write the self-contained audit page to ``out``."""
    from fastxai.report.builder import audit_view
    from fastxai.report.html import render

    audit = load_audit(source, min_group_size, image_stats)
    html = render("audit.html.j2", {"title": f"Dataset audit: {Path(source).name}", "source": str(source),
                                    "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                    "audit": audit_view(audit)})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return audit, out
