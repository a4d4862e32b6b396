"""``fastxai audit CONFIG``: the dataset audit (groups, intersections, labels, boxes, images,
patients) as a self-contained HTML page and a printed summary — before any model is trained."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """CONFIG (a bench config, or a bench run folder), ``--out``, ``--min-group-size``."""
    parser.add_argument("config", nargs="?", help="a fastxai bench config (TOML/YAML) or a bench run folder")
    parser.add_argument("--out", default="audit.html", help="output HTML (default ./audit.html)")
    parser.add_argument("--min-group-size", type=int, default=30, help="smaller groups are flagged")
    parser.add_argument("--no-image-stats", action="store_true", help="skip reading the images (faster)")


def run(args: argparse.Namespace) -> int:
    """Audit, print the flags, write the page."""
    from fastxai.report.audit_source import audit_page

    if not args.config:
        print("fastxai audit: give a bench config or a run folder, e.g. fastxai audit my_bench.toml")
        return 2
    from fastxai.bench.errors import ConfigError

    try:
        audit, path = audit_page(args.config, args.out, min_group_size=args.min_group_size,
                                 image_stats=not args.no_image_stats)
    except (FileNotFoundError, ConfigError) as exc:
        print(f"fastxai audit: {exc}")
        return 2
    print(f"{audit.n_images} images, {audit.n_patients} patients, {audit.n_boxes} boxes; "
          f"{len(audit.flags)} flag(s)")
    for f in audit.flags:
        print(f"  - {f.text}")
    print(f"audit written to {path}")
    return 0
