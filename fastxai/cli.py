"""The ``fastxai`` command.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only lists them (``COMMANDS``), so adding a command is one
line here plus its module. Modules are imported when the parser is built, so they must import
their heavy dependencies inside ``run``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, List, Optional, Tuple

import fastxai

# name -> (module with add_arguments / run, one-line help)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "info": ("fastxai.cli_info", "print versions and which backends are active"),
    "demo": ("fastxai.demo.cli", "the demo: benchmark synthetic and real chest X-rays, write their reports"),
    "bench": ("fastxai.bench.cli_bench", "benchmark methods x models x datasets (resumable; torchrun shards it)"),
    "profile": ("fastxai.bench.cli_profile", "per-stage time breakdown of one method / model / batch"),
    "report": ("fastxai.report.cli", "write a bench run's self-contained HTML report (findings first)"),
    "audit": ("fastxai.report.audit_cli", "audit a dataset (groups, labels, boxes, images) before any model"),
    "compat": ("fastxai.cli_compat", "run a method from Captum and from fastxai on your model; compare"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="fastxai", description="fastxai: fast, Captum-compatible attributions and their evaluation")
    parser.add_argument("--version", action="version", version=f"fastxai {fastxai.__version__}")
    sub = parser.add_subparsers(dest="cmd")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the console script (and of ``python -m fastxai``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
