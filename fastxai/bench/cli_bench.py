"""``fastxai bench [train] CONFIG`` / ``fastxai bench --demo``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``fastxai bench``."""
    parser.add_argument("args", nargs="*", metavar="[train] CONFIG",
                        help="a TOML/YAML config; 'train CONFIG' only trains (and caches) its built-in models")
    parser.add_argument("--demo", action="store_true", help="run the built-in config over generated synthetic data")
    parser.add_argument("--data-dir", default="fastxai_runs/demo_data", help="--demo: where the synthetic data goes")
    parser.add_argument("--out", default=None, help="run folder (overrides run.out)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set run.batch_size=8 (value parsed as TOML)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary (CI)")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")


def parse_overrides(items: List[str]) -> Dict[str, Any]:
    """``["run.batch_size=8"]`` -> ``{"run.batch_size": 8}`` (values parsed as TOML, else strings)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except Exception:  # noqa: BLE001 - a bare word is a string
            out[key.strip()] = raw
    return out


def demo_config(data_dir: str, quiet: bool = False) -> str:
    """Generate the synthetic data (once) and write the demo config beside it; returns its path."""
    from importlib import resources

    from fastxai.demo.synthetic import write_synthetic

    data_dir = os.path.abspath(data_dir)
    if not os.path.exists(os.path.join(data_dir, "annotations.csv")):
        if not quiet:
            print(f"writing synthetic lesion data to {data_dir}", flush=True)
        write_synthetic(data_dir)
    text = resources.files("fastxai.bench").joinpath("configs/demo.toml").read_text()
    path = os.path.join(data_dir, "demo.toml")
    with open(path, "w") as f:
        f.write(text.replace('root = "SYNTHETIC"', f"root = {data_dir!r}".replace("'", '"')))
    return path


def run(args: argparse.Namespace) -> int:
    """Validate, then train or run (resume) the benchmark."""
    from fastxai.bench.errors import ConfigError

    positional = list(args.args)
    train = bool(positional) and positional[0] == "train"
    if train:
        positional = positional[1:]
    if args.demo:
        positional = [demo_config(args.data_dir, args.quiet)]
        if args.out is None:
            args.out = os.path.abspath("fastxai_runs/demo")
    if len(positional) != 1:
        print("usage: fastxai bench [train] CONFIG  |  fastxai bench --demo", file=sys.stderr)
        return 2
    overrides = parse_overrides(args.set)
    if args.out:
        overrides["run.out"] = os.path.abspath(args.out)
    try:
        from fastxai.bench.config_load import load_config

        cfg = load_config(positional[0], overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{positional[0]}: OK")
        return 0
    if train:
        return _train(cfg, args.quiet)
    from fastxai.bench.runner import run_bench

    return run_bench(cfg, quiet=args.quiet, config_path=positional[0])


def _train(cfg: Any, quiet: bool) -> int:
    from fastxai.bench.dataset import build_table
    from fastxai.bench.train import trained_weights

    table = build_table(cfg)
    for spec in cfg.models:
        if not spec.arch:
            print(f"{spec.name}: not a built-in architecture, nothing to train")
            continue
        print(f"{spec.name}: {trained_weights(spec, cfg, table, quiet=quiet)}")
    return 0
