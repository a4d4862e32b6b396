"""``fastxai demo``: explain the built-in demo model (see :mod:`fastxai.demo.run`)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out`` folder for PNG overlays, ``--n-images``."""
    parser.add_argument("--out", default="fastxai_out", help="folder for PNG overlays")
    parser.add_argument("--n-images", type=int, default=8)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from fastxai.demo.run import main as demo_main

    demo_main(args.out, args.n_images)
    return 0
