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
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (resampling patients)")
    parser.add_argument("--alpha", type=float, default=0.05, help="CI level 1 - alpha and FDR level alpha")
    parser.add_argument("--min-group-size", type=int, default=30, help="smaller groups are flagged, not tested")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Build the report; prints its path."""
    from fastxai.report import FindingSettings, build_report

    if not args.run_dir:
        print("fastxai report: give a run folder (RUN_DIR), e.g. fastxai report runs/demo")
        return 2
    settings = FindingSettings(n_boot=args.n_boot, alpha=args.alpha, seed=args.seed,
                               min_group_size=args.min_group_size)
    path = build_report(args.run_dir, args.out, include_images=not args.no_images, settings=settings)
    print(f"report written to {path}")
    return 0
