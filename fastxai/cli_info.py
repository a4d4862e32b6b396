"""``fastxai info``: versions and which backends are active."""
from __future__ import annotations

import argparse
import platform

import torch

import fastxai
from fastxai.backends import active_backends


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print fastxai / python / torch versions, threads, CUDA and each backend's state."""
    print(f"fastxai {fastxai.__version__}")
    print(f"python {platform.python_version()} | torch {torch.__version__} | "
          f"threads {torch.get_num_threads()} | cuda {torch.cuda.is_available()}")
    for name, on in active_backends().items():
        print(f"  {name:20s} {'active' if on else 'off'}")
    return 0
