"""``fastxai demo``: the demo benchmark and its reports (see :mod:`fastxai.demo.run`)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--data PATH``, ``--only synthetic|nih``, ``--quick``, ``--quiet``."""
    parser.add_argument("--out", default="fastxai_out", help="folder for data, cached models, runs and reports")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a full dataset in the bundled NIH subset's layout (annotations.csv + images/) "
                             "instead of the 300 bundled images")
    parser.add_argument("--only", choices=["synthetic", "nih"], default=None, help="run one part only")
    parser.add_argument("--quick", action="store_true", help="a reduced demo: 3 methods, 3 metrics, 300 bootstrap replicates")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run the demo benchmark(s) and write their reports."""
    from fastxai.demo.run import main as demo_main

    demo_main(args.out, data=args.data, quick=args.quick, quiet=args.quiet,
              parts=[args.only] if args.only else None)
    return 0
