"""``fastxai report RUN_DIR``: write the run's self-contained HTML report (see fastxai.report)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR, ``--out``, ``--no-images``, ``--n-boot``, ``--alpha``, ``--min-group-size``, ``--seed``."""
    parser.add_argument("run_dir", nargs="?", help="a fastxai bench run folder")
    parser.add_argument("--out", default=None, help="output HTML (default RUN_DIR/report.html, "
                        "RUN_DIR/report_public.html with --no-images)")
    parser.add_argument("--no-images", action="store_true",
                        help="leave out every patient image (tables and aggregate figures only), for sharing")
    parser.add_argument("--n-boot", type=int, default=None,
                        help="bootstrap replicates, resampling patients (default: the run's groups.n_boot)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="CI level 1 - alpha and FDR level alpha (default: from the run's groups.ci)")
    parser.add_argument("--min-group-size", type=int, default=None,
                        help="smaller groups are flagged, not tested (default: the run's groups.min_group_size)")
    parser.add_argument("--seed", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    """Build the report; prints its path."""
    from fastxai.report import build_report
    from fastxai.bench import open_run
    from fastxai.report.findings import settings_from_config

    if not args.run_dir:
        print("fastxai report: give a run folder (RUN_DIR), e.g. fastxai report runs/demo")
        return 2
    settings = settings_from_config(open_run(args.run_dir).config)
    for name in ("n_boot", "alpha", "seed", "min_group_size"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    path = build_report(args.run_dir, args.out, include_images=not args.no_images, settings=settings)
    print(f"report written to {path}")
    return 0
