"""``fastxai demo``: the project's main demonstration — two benchmarks and their reports.

1. **Synthetic lesions with known answers** (``fastxai.demo.synthetic``): a planted shortcut (a
   border marker tied to site A and the label), a planted sex gap and a planted imbalance; the
   report must state the first two with their CIs and the audit must flag the third.
2. **Real chest X-rays**: the bundled NIH ChestX-ray14 subset (300 images with radiologist boxes,
   ``fastxai/demo/assets/nih_cxr14_subset``), or a full dataset in the same layout (``data=``).

Each runs through ``fastxai.bench`` (configs in ``fastxai/demo/configs``: ≥ 6 methods from
different families plus the trivial baselines; localisation, faithfulness and group metrics),
models train on the first run and are cached (``OUT/cache``), finished cells are reused, and each
run folder gets ``report.html`` and ``report_public.html`` (no patient images).
"""
from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

SUBSET = Path(__file__).resolve().parent / "assets" / "nih_cxr14_subset"
# A reduced demo for tests: fewer methods and replicates; the planted effects stay detectable.
QUICK: Dict[str, Any] = {"methods": ["Saliency", "GuidedBackprop", "LayerGradCam"], "n_boot": 300,
         "metrics": ["pointing_game", "energy_pointing_game", "border_mass"]}


def config_text(name: str) -> str:
    """The demo config ``name`` (synthetic | nih) as shipped."""
    return resources.files("fastxai.demo").joinpath(f"configs/{name}.toml").read_text()


def _csv_columns(path: Path) -> List[str]:
    """The header of a CSV file (empty when it does not exist)."""
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def demo_config(name: str, root: Union[str, Path], out: Union[str, Path], cache: Union[str, Path],
                quick: bool = False, n_images: Optional[int] = None) -> Dict[str, Any]:
    """The demo config ``name`` as a dict with its paths filled in (``quick``: the reduced demo)."""
    cfg = tomllib.loads(config_text(name))
    cfg["run"].update(out=str(Path(out).resolve()), cache_dir=str(Path(cache).resolve()))
    cfg["dataset"]["root"] = str(Path(root).resolve())
    split_col = cfg["dataset"].get("split_column")
    if split_col and split_col not in _csv_columns(Path(root) / cfg["dataset"].get("csv", "annotations.csv")):
        del cfg["dataset"]["split_column"]  # a dataset without the bundled split: split by patient
    if quick:
        cfg["methods"] = [m for m in cfg["methods"] if m["name"] in QUICK["methods"]]
        cfg["groups"]["n_boot"] = QUICK["n_boot"]
        cfg["metrics"]["names"] = QUICK["metrics"]
    return cfg


def write_toml(cfg: Dict[str, Any], path: Path) -> Path:
    """A small TOML writer for the demo configs (tables, arrays of tables, scalars, inline dicts)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    lines: List[str] = []

    def table(name: str, d: Dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict))
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    for k, v in cfg.items():
        if isinstance(v, dict):
            table(k, v)
        else:  # an array of tables ([[models]], [[methods]])
            for item in v:
                lines.append(f"[[{k}]]")
                lines.extend(f"{a} = {val(b)}" for a, b in item.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _synthetic_root(out: Path, quiet: bool) -> Path:
    from fastxai.demo.synthetic import write_synthetic

    root = out / "data" / "synthetic"
    if not (root / "annotations.csv").exists():
        if not quiet:
            print(f"writing the synthetic lesion data to {root}", flush=True)
        write_synthetic(root)
    return root


def run_part(name: str, root: Path, out: Path, quick: bool, quiet: bool) -> Dict[str, Any]:
    """Bench + reports for one part; returns its run folder, report paths and wall seconds."""
    from fastxai.bench import run_bench
    from fastxai.report import FindingSettings, build_report

    t0 = time.perf_counter()
    cfg = demo_config(name, root, out / "runs" / name, out / "cache", quick)
    path = write_toml(cfg, out / "configs" / f"{name}.toml")
    rc = run_bench(str(path), quiet=quiet)
    if rc != 0:
        raise RuntimeError(f"the {name} benchmark did not finish (exit {rc}); re-run to resume, see {cfg['run']['out']}")
    t1 = time.perf_counter()
    settings = FindingSettings(n_boot=cfg["groups"]["n_boot"], min_group_size=cfg["groups"]["min_group_size"],
                               border=cfg.get("metrics", {}).get("border", 0.1))
    run_dir = Path(cfg["run"]["out"])
    full = build_report(run_dir, settings=settings)
    public = build_report(run_dir, include_images=False, settings=settings)
    t2 = time.perf_counter()
    return {"name": name, "run_dir": run_dir, "report": full, "public": public,
            "bench_seconds": t1 - t0, "report_seconds": t2 - t1}


def main(out: Union[str, Path] = "fastxai_out", data: Optional[str] = None, quick: bool = False,
         quiet: bool = False, parts: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Run the demo; returns one dict per part (run_dir, report, public, bench_seconds, report_seconds)."""
    out = Path(out).resolve()
    (out / "configs").mkdir(parents=True, exist_ok=True)
    parts = parts or ["synthetic", "nih"]
    results = []
    for name in parts:
        root = _synthetic_root(out, quiet) if name == "synthetic" else Path(data).resolve() if data else SUBSET
        if not quiet:
            print(f"\n== demo part: {name} ({root}) ==", flush=True)
        results.append(run_part(name, root, out, quick, quiet))
    print("\nfastxai demo finished:")
    for r in results:
        print(f"  {r['name']:10s} bench {r['bench_seconds']:6.1f} s, report {r['report_seconds']:5.1f} s -> {r['report']}")
        print(f"  {'':10s} shareable (no patient images): {r['public']}")
    if os.environ.get("FASTXAI_DEMO_TIMING"):
        print(f"total {sum(r['bench_seconds'] + r['report_seconds'] for r in results):.1f} s")
    return results
