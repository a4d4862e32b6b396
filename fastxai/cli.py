"""The ``fastxai`` command: ``--version``, ``info`` (active backends), ``demo``."""
from __future__ import annotations

import argparse
import platform
import sys
from typing import List, Optional

import torch

import fastxai
from fastxai.backends import active_backends


def _info() -> None:
    print(f"fastxai {fastxai.__version__}")
    print(f"python {platform.python_version()} | torch {torch.__version__} | "
          f"threads {torch.get_num_threads()} | cuda {torch.cuda.is_available()}")
    for name, on in active_backends().items():
        print(f"  {name:20s} {'active' if on else 'off'}")


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="fastxai", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fastxai {fastxai.__version__}")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("info", help="print versions and which backends are active")
    demo = sub.add_parser("demo", help="explain the built-in demo model; writes PNG overlays")
    demo.add_argument("--out", default="fastxai_out", help="folder for PNG overlays")
    demo.add_argument("--n-images", type=int, default=8)
    args = parser.parse_args(argv)
    if args.cmd == "info":
        _info()
    elif args.cmd == "demo":
        from fastxai.demo.run import main as demo_main

        demo_main(args.out, args.n_images)
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
