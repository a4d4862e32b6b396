"""``fastxai profile CONFIG --model NAME --method LABEL`` (or ``--demo``)."""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``fastxai profile``."""
    parser.add_argument("config", nargs="?", help="a bench config (TOML/YAML)")
    parser.add_argument("--demo", action="store_true", help="profile on the built-in demo config")
    parser.add_argument("--data-dir", default="fastxai_runs/demo_data", help="--demo: synthetic data folder")
    parser.add_argument("--model", default=None, help="model name (default: the first)")
    parser.add_argument("--method", default=None, help="method label (default: the first)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch (default run.batch_size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (median)")
    parser.add_argument("--trace", default=None, help="write a torch.profiler Chrome trace here")
    parser.add_argument("--json", default=None, help="also write the numbers as JSON here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")


def run(args: argparse.Namespace) -> int:
    """Print the per-stage breakdown."""
    from fastxai.bench.cli_bench import demo_config, parse_overrides
    from fastxai.bench.config_load import load_config
    from fastxai.bench.errors import ConfigError
    from fastxai.bench.profile import format_profile, profile_method

    path = demo_config(args.data_dir) if args.demo else args.config
    if not path:
        print("usage: fastxai profile CONFIG [--model M] [--method X]  |  fastxai profile --demo", file=sys.stderr)
        return 2
    try:
        cfg = load_config(path, parse_overrides(args.set))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    model = args.model or cfg.models[0].name
    method = args.method or (cfg.methods[0].key() if cfg.methods else "baseline:edges")
    try:
        p = profile_method(cfg, model, method, args.repeats, args.batch_size, args.trace)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(format_profile(p))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(p, f, indent=1)
    return 0
