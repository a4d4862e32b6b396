#!/usr/bin/env python
"""Run Captum's own ``tests/attr`` with fastxai's classes substituted for Captum's.

Usage (from the repository root, inside the project's .venv, with ``parameterized`` installed)::

    python scripts/captum_dropin.py --captum /tmp/captum_dropin/src \\
        --out /tmp/captum_dropin/run [--variants orig,fx] [--jobs 2] [--timeout 1200] [-k PATTERN]

``--captum`` is a checkout (or ``git archive``) of github.com/pytorch/captum holding ``tests/``
and ``captum/testing/``. Nothing of it is committed: the copies live under ``--out`` only.

Variants (each a rewritten copy of the test tree, run with pytest file by file):

* ``orig``: Captum itself (installed captum, helpers from the checkout's ``captum/testing``).
* ``fx``:   every name of ``captum.attr.__all__`` that ``fastxai.attr`` also exports (and the
  functions of ``captum.attr.visualization`` that ``fastxai.attr.visualization`` has) is
  imported from fastxai instead -- in the test files and in the test-generation helpers
  ``test_config.py`` / ``gen_test_utils.py``. Everything else (other helpers, reference
  implementations such as ``ConductanceReference``, Captum internals) stays Captum's. The
  text/LLM classes (and ``captum.robust`` / ``captum.concept``) are never substituted.
* ``diff``: like ``fx`` but each substituted class is a differential wrapper: every
  ``attribute`` call runs Captum and then fastxai from the same RNG state, logs the largest
  difference to ``diff_log.jsonl`` and returns Captum's result (see docs/dropin.md).

The only edits to the copies are import rewrites (``captum.testing`` -> the checkout's copy,
named ``_captum_testing``; substituted names -> ``fastxai.attr``). Results: ``report.md``
(per-file passed/failed/skipped for Captum and fastxai, and every test failing on fastxai
but passing on Captum, with its error) and ``results.json`` under ``--out``.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# Names of captum.attr.__all__ that belong to the later text / LLM issue: never substituted.
OUT_OF_SCOPE = re.compile(r"^(LLM|RemoteLLM|TextTemplateInput|TextTokenInput|VLLM)")
# Helper modules (inside captum/testing) whose captum.attr imports are substituted in fx:
# they list / filter the algorithms under test. Other helpers stay Captum's.
SUBSTITUTED_HELPERS = ("attr/helpers/test_config.py", "attr/helpers/gen_test_utils.py")
LOCAL_TESTING = "_captum_testing"
# Test files of the out-of-scope text / LLM classes: run with Captum's classes in both variants.
OUT_OF_SCOPE_FILES = re.compile(r"test_llm_attr")
# Public names fastxai.attr exports that captum.attr.__all__ does not list but Captum's test
# files import from captum.attr.* modules (LRP rules, get_exp_kernel_similarity_function, ...):
# substituted when the Captum object has the same name. Filled by substitution_table().
FX_EXTRA: set = set()
BASES = {"Attribution", "GradientAttribution", "PerturbationAttribution", "LayerAttribution",
         "NeuronAttribution"}

CONFTEST = '''
import json, os
_OUT = os.environ.get("DROPIN_RESULTS")

def _msg(rep):
    crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
    if crash is not None:
        return crash.message.splitlines()[0][:300] if crash.message else ""
    text = str(getattr(rep, "longrepr", "") or "")
    return text.strip().splitlines()[-1][:300] if text.strip() else ""

def _write(row):
    if _OUT:
        with open(_OUT, "a") as fh:
            fh.write(json.dumps(row) + "\\n")

def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _write({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                "msg": _msg(report) if report.outcome != "passed" else ""})

def pytest_collectreport(report):
    if report.outcome == "failed":
        _write({"nodeid": report.nodeid, "when": "collect", "outcome": "error", "msg": _msg(report)})
'''


# ----------------------------------------------------------------------------- substitution
def substitution_table() -> Tuple[Dict[int, Tuple[str, str]], Dict[str, List[str]]]:
    """Map ``id(captum object)`` -> (fastxai module, name) for every substituted public name.

    Returns the map and a summary {"substituted": [...], "missing": [...], "out_of_scope": [...]}
    over ``captum.attr.__all__`` (plus ``visualization`` functions).
    """
    import captum.attr as ca
    import fastxai.attr as fa

    table: Dict[int, Tuple[str, str]] = {}
    summary: Dict[str, List[str]] = {"substituted": [], "missing": [], "out_of_scope": []}
    fx_all = set(getattr(fa, "__all__", [])) | {n for n in dir(fa) if not n.startswith("_")}
    for name in sorted(ca.__all__):
        if OUT_OF_SCOPE.match(name):
            summary["out_of_scope"].append(name)
        elif name in fx_all and hasattr(fa, name):
            table[id(getattr(ca, name))] = ("fastxai.attr", name)
            summary["substituted"].append(name)
        else:
            summary["missing"].append(name)
    FX_EXTRA.clear()
    FX_EXTRA.update(n for n in fx_all if n not in ca.__all__ and not OUT_OF_SCOPE.match(n))
    summary["extra"] = sorted(FX_EXTRA)
    cviz = importlib.import_module("captum.attr._utils.visualization")
    try:
        fviz = importlib.import_module("fastxai.attr.visualization")
    except ImportError:
        fviz = None
    for name in sorted(n for n in dir(cviz) if not n.startswith("_")):
        obj = getattr(cviz, name)
        if getattr(obj, "__module__", None) != cviz.__name__:
            continue  # re-exported third-party names (numpy, matplotlib...)
        if fviz is not None and hasattr(fviz, name):
            table[id(obj)] = ("fastxai.attr.visualization", name)
            summary["substituted"].append("visualization." + name)
        else:
            summary["missing"].append("visualization." + name)
    return table, summary


def _resolve(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        try:  # a submodule imported by name
            return importlib.import_module(module + "." + name)
        except ImportError:
            return None


def rewrite_source(src: str, table: Optional[Dict[int, Tuple[str, str]]],
                   used: Dict[str, List[str]], extra: bool = True) -> str:
    """Rewrite the imports of one file; ``table=None`` only relocates ``captum.testing``.

    ``used`` collects {"fastxai": [...], "captum": [...]} captum.attr names this file imports.
    ``extra``: also substitute FX_EXTRA names (LRP rules, ...) -- only in files that keep no
    public captum.attr name Captum's, so that e.g. Captum's LayerLRP never gets fastxai's rules.
    """
    if extra and table is not None:
        probe: Dict[str, List[str]] = {"fastxai": [], "captum": []}
        rewrite_source(src, table, probe, extra=False)
        extra = not any(not n.startswith("_") and n not in FX_EXTRA for n in probe["captum"])
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
            continue
        mod = node.module
        if mod == "captum.testing" or mod.startswith("captum.testing."):
            new = LOCAL_TESTING + mod[len("captum.testing"):]
            edits.append((node, [(new, [(a.name, a.asname) for a in node.names])]))
            continue
        if not (mod == "captum.attr" or mod.startswith("captum.attr.")):
            continue
        keep, moved = [], []
        for a in node.names:
            obj = _resolve(mod, a.name)
            hit = table.get(id(obj)) if (table is not None and obj is not None) else None
            if hit is None and table is not None and mod in ("captum.attr",) \
                    and a.name == "visualization":
                hit = ("fastxai.attr", "visualization") if _has_fx_viz() else None
            if hit is None and table is not None and extra and a.name in FX_EXTRA \
                    and getattr(obj, "__name__", None) == a.name:
                hit = ("fastxai.attr", a.name)
            (used["fastxai"] if hit else used["captum"]).append(a.name)
            if hit:
                moved.append((hit[0], hit[1], a.asname or a.name))
            else:
                keep.append((a.name, a.asname))
        if not moved:
            continue
        stmts = [(mod, keep)] if keep else []
        for fmod, fname, local in moved:
            stmts.append((fmod, [(fname, local if local != fname else None)]))
        edits.append((node, stmts))
    for node, stmts in sorted(edits, key=lambda e: -e[0].lineno):
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        text = "".join(
            f"{indent}from {m} import "
            + ", ".join(n + (f" as {a}" if a else "") for n, a in names) + "\n"
            for m, names in stmts
        )
        lines[node.lineno - 1: node.end_lineno] = [text]
    return "".join(lines)


def _has_fx_viz() -> bool:
    try:
        importlib.import_module("fastxai.attr.visualization")
        return True
    except ImportError:
        return False


# ----------------------------------------------------------------------------- preparation
def prepare_variant(captum_root: Path, out: Path, variant: str,
                    table: Optional[Dict[int, Tuple[str, str]]]) -> Dict[str, Dict[str, List[str]]]:
    """Copy ``tests/attr`` and ``captum/testing`` into ``out/variant`` with imports rewritten."""
    dst = out / variant
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "tests").mkdir(parents=True)
    shutil.copy(captum_root / "tests" / "__init__.py", dst / "tests" / "__init__.py")
    shutil.copytree(captum_root / "tests" / "attr", dst / "tests" / "attr")
    shutil.copytree(captum_root / "captum" / "testing", dst / LOCAL_TESTING)
    imports: Dict[str, Dict[str, List[str]]] = {}
    for path in sorted(dst.rglob("*.py")):
        rel = path.relative_to(dst).as_posix()
        helper = rel.startswith(LOCAL_TESTING + "/")
        subst = table if (not helper or rel.endswith(SUBSTITUTED_HELPERS)) else None
        if OUT_OF_SCOPE_FILES.search(rel):
            subst = None
        used: Dict[str, List[str]] = {"fastxai": [], "captum": []}
        path.write_text(rewrite_source(path.read_text(), subst, used, extra=variant != "diff"))
        if used["fastxai"] or used["captum"]:
            imports[rel] = used
    if variant == "diff":
        shutil.copy(Path(__file__).with_name("captum_dropin_diff.py"), dst / "_dropin_diff.py")
    (dst / "conftest.py").write_text(CONFTEST)
    (dst / "pytest.ini").write_text("[pytest]\naddopts =\n")
    (dst / "imports.json").write_text(json.dumps(imports, indent=1))
    return imports


def diff_table(table: Dict[int, Tuple[str, str]]) -> Dict[int, Tuple[str, str]]:
    """The diff variant's map: concrete substituted classes go through the wrapper; everything
    else (base classes, rules, functions) stays Captum's there."""
    import fastxai.attr as fa

    out = {}
    for key, (mod, name) in table.items():
        obj = getattr(fa, name, None) if mod == "fastxai.attr" else None
        if isinstance(obj, type) and hasattr(obj, "attribute") and name not in BASES:
            out[key] = ("_dropin_diff", name)
    return out


# ----------------------------------------------------------------------------- running
def run_file(out: Path, variant: str, rel: str, timeout: int, threads: int) -> dict:
    """Run pytest on one copied file; per-test rows go to ``results/<file>.jsonl``."""
    dst = out / variant
    stem = rel.replace("/", "__")
    res = dst / "results" / (stem + ".jsonl")
    log = dst / "logs" / (stem + ".log")
    res.parent.mkdir(exist_ok=True)
    log.parent.mkdir(exist_ok=True)
    res.unlink(missing_ok=True)
    path = os.pathsep.join(filter(None, [str(dst), os.environ.get("DROPIN_FASTXAI", "")]))
    env = dict(os.environ, PYTHONPATH=path, DROPIN_RESULTS=str(res),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               DROPIN_DIFF_LOG=str(dst / "diff_log.jsonl"), DROPIN_TEST_FILE=rel)
    cmd = ["nice", "-n", "5", "timeout", "-k", "15", str(timeout), sys.executable, "-m",
           "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", rel]
    t0 = time.time()
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=dst, env=env, stdout=fh, stderr=subprocess.STDOUT)
    rec = {"variant": variant, "file": rel, "rc": rc, "wall_s": round(time.time() - t0, 1),
           "timed_out": rc in (124, 137)}
    (dst / "runs").mkdir(exist_ok=True)
    (dst / "runs" / (stem + ".json")).write_text(json.dumps(rec))
    return rec


def same_code_files(out: Path, variant: str, files: List[str]) -> List[str]:
    """Test files whose copy in ``variant`` runs exactly the code of ``orig``: the file is
    byte-identical and it names no module that differs (e.g. the rewritten test_config)."""
    a, b = out / "orig", out / variant
    differing = [p.relative_to(b) for p in b.rglob("*.py")
                 if not (a / p.relative_to(b)).exists()
                 or (a / p.relative_to(b)).read_text() != p.read_text()]
    stems = {p.stem for p in differing if p.name != "conftest.py"}
    same = []
    for rel in files:
        text = (b / rel).read_text()
        if Path(rel) not in differing and not any(re.search(rf"\b{re.escape(m)}\b", text)
                                                  for m in stems):
            same.append(rel)
    return same


def read_outcomes(out: Path, variant: str, rel: str) -> Dict[str, Tuple[str, str]]:
    """{test id: (passed|failed|skipped|error, message)} from the file's jsonl rows."""
    path = out / variant / "results" / (rel.replace("/", "__") + ".jsonl")
    got: Dict[str, Tuple[str, str]] = {}
    if not path.exists():
        return got
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        outcome = row["outcome"]
        if outcome == "failed" and row["when"] != "call":
            outcome = "error"
        prev = got.get(row["nodeid"])
        if prev is None or rank[outcome] > rank[prev[0]]:
            got[row["nodeid"]] = (outcome, row.get("msg", ""))
    return got


# ----------------------------------------------------------------------------- report
def _counts(got: Dict[str, Tuple[str, str]]) -> str:
    n = {k: 0 for k in ("passed", "failed", "skipped", "error")}
    for outcome, _ in got.values():
        n[outcome] += 1
    failed = n["failed"] + n["error"]
    return f"{n['passed']} / {failed} / {n['skipped']}"


def summarise(out: Path, files: List[str], variants: List[str], runs: List[dict],
              imports: Dict[str, Dict[str, List[str]]], summary: Dict[str, List[str]],
              meta: dict, same: Dict[str, List[str]]) -> dict:
    """Per-file counts, fx-only failures and fx-only passes; writes results.json / report.md.
    ``same[v]``: files whose v copy is orig's code; they take orig's outcomes, marked '='."""
    run_info = {(r["variant"], r["file"]): r for r in runs}
    per_file, only_fx, only_captum = [], [], []
    for rel in files:
        copied = [v for v in variants if rel in same.get(v, ()) and "orig" in variants]
        got = {v: read_outcomes(out, "orig" if v in copied else v, rel) for v in variants}
        row = {"file": rel, "subst": imports.get(rel, {}).get("fastxai", []),
               "kept": imports.get(rel, {}).get("captum", [])}
        for v in variants:
            info = run_info.get((v, rel), {})
            row[v] = _counts(got[v]) + (" (timeout)" if info.get("timed_out") else "")
            row[v + "_s"] = "= orig, same code" if v in copied else info.get("wall_s")
        per_file.append(row)
        if "orig" in got and "fx" in got:
            for tid, (outcome, msg) in sorted(got["fx"].items()):
                ref = got["orig"].get(tid, ("absent", ""))[0]
                if outcome in ("failed", "error") and ref in ("passed", "absent"):
                    only_fx.append({"test": tid, "captum": ref, "fastxai": outcome, "msg": msg})
            for tid, (outcome, msg) in sorted(got["orig"].items()):
                fx = got["fx"].get(tid, ("absent", ""))[0]
                if outcome in ("failed", "error") and fx == "passed":
                    only_captum.append({"test": tid, "msg": msg})
    result = {"meta": meta, "names": summary, "files": per_file, "fastxai_only_failures": only_fx,
              "captum_only_failures": only_captum, "runs": runs, "same_code": same,
              "diff": diff_summary(out / "diff" / "diff_log.jsonl") if "diff" in variants else None}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "report.md").write_text(render(result, variants))
    return result


def diff_summary(log: Path) -> Optional[dict]:
    """Per class: attribute calls compared, agreeing calls, and the disagreeing ones."""
    if not log.exists():
        return None
    per_cls: Dict[str, dict] = {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        c = per_cls.setdefault(row["cls"], {"calls": 0, "agree": 0, "differ": []})
        c["calls"] += 1
        if row["ok"]:
            c["agree"] += 1
        else:
            c["differ"].append({"test": row["test"], "reason": row["reason"]})
    return per_cls


def _total(per_file: List[dict], v: str) -> str:
    tot = [0, 0, 0]
    for row in per_file:
        for i, x in enumerate(row[v].split(" (")[0].split(" / ")):
            tot[i] += int(x)
    return " / ".join(map(str, tot))


def render(result: dict, variants: List[str]) -> str:
    """The markdown report: names, per-file table, fastxai-only failures."""
    names, meta = result["names"], result["meta"]
    out = [f"# Captum drop-in run ({meta['started']})", "",
           f"Captum tests: `{meta['captum']}` (commit {meta['commit']}); installed captum "
           f"{meta['captum_version']}, torch {meta['torch_version']}, fastxai {meta['fastxai_rev']}.",
           f"Command: `{meta['command']}`", "",
           f"Substituted ({len(names['substituted'])}): {', '.join(names['substituted'])}", "",
           "Also substituted where a test imports them from a captum.attr module (fastxai "
           f"exports, not in captum.attr.__all__): {', '.join(names.get('extra', []))}", "",
           f"Not in fastxai, Captum's kept ({len(names['missing'])}): "
           f"{', '.join(names['missing']) or '-'}", "",
           f"Out of scope, never substituted ({len(names['out_of_scope'])}): "
           f"{', '.join(names['out_of_scope'])}; captum.robust, captum.concept. Files "
           f"matching `{OUT_OF_SCOPE_FILES.pattern}` run Captum's classes in every variant.", "",
           "## Per file (passed / failed+errors / skipped)", "",
           "| file | " + " | ".join(variants) + " | Captum names kept |",
           "|---|" + "---|" * len(variants) + "---|"]
    for row in result["files"]:
        cells = [f"{row[v]} ({row[v + '_s']}" + (" s)" if isinstance(row[v + "_s"], float)
                                                  else ")") for v in variants]
        out.append(f"| {row['file']} | " + " | ".join(cells) + f" | {', '.join(row['kept'])} |")
    out.append("| **total** | " + " | ".join(f"**{_total(result['files'], v)}**"
                                           for v in variants) + " | |")
    out += ["", f"## Failing on fastxai, passing on Captum ({len(result['fastxai_only_failures'])})", ""]
    out += [f"- `{f['test']}` ({f['fastxai']}; Captum {f['captum']}): {f['msg']}"
            for f in result["fastxai_only_failures"]]
    out += ["", f"## Failing on Captum, passing on fastxai ({len(result['captum_only_failures'])})", ""]
    out += [f"- `{f['test']}`: {f['msg']}" for f in result["captum_only_failures"]]
    if result.get("diff"):
        out += ["", "## Differential log (diff variant: Captum vs fastxai per attribute call)", "",
                "| class | calls | agree | differ |", "|---|---|---|---|"]
        for cls, c in sorted(result["diff"].items()):
            out.append(f"| {cls} | {c['calls']} | {c['agree']} | {len(c['differ'])} |")
        out += [""] + [f"- {cls} `{d['test']}`: {d['reason']}"
                       for cls, c in sorted(result["diff"].items()) for d in c["differ"]]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- main
def _meta(captum_root: Path, argv: List[str]) -> dict:
    import captum
    import torch

    def git(*args: str, cwd: Optional[Path] = None) -> str:
        try:
            return subprocess.check_output(["git", *args], cwd=cwd, text=True,
                                           stderr=subprocess.DEVNULL).strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return "unknown"

    commit_file = captum_root / "COMMIT"
    commit = commit_file.read_text().strip() if commit_file.exists() else git(
        "rev-parse", "HEAD", cwd=captum_root)
    here = Path(os.environ.get("DROPIN_FASTXAI") or Path(__file__).resolve().parent.parent)
    return {"captum": str(captum_root), "commit": commit, "captum_version": captum.__version__,
            "torch_version": torch.__version__,
            "fastxai_rev": git("rev-parse", "--short", "HEAD", cwd=here)
            + ("+dirty" if git("status", "--porcelain", "--", "fastxai", cwd=here) else ""),
            "command": "python scripts/captum_dropin.py " + " ".join(argv),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--captum", required=True, type=Path, help="checkout with tests/ and captum/testing/")
    ap.add_argument("--out", default=Path("/tmp/captum_dropin/run"), type=Path)
    ap.add_argument("--variants", default="orig,fx")
    ap.add_argument("--jobs", type=int, default=2, help="files run in parallel (at most 2)")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per file and variant")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per pytest process")
    ap.add_argument("-k", "--filter", default="", help="regex on the test file path")
    ap.add_argument("--report-only", action="store_true", help="re-read results, run nothing")
    ap.add_argument("--resume", action="store_true", help="keep the copies and the results of "
                    "jobs already run in --out (after an interruption)")
    ap.add_argument("--rerun-same", action="store_true", help="also run files whose fastxai "
                    "copy is byte-identical to Captum's (no name substituted)")
    ap.add_argument("--fastxai", type=Path, default=None, help="a fastxai source tree to test "
                    "instead of the installed one (put first on the path; its compiled _C must "
                    "be there)")
    ap.add_argument("--reuse", default="", help="variants (e.g. orig) whose results already in "
                    "--out are reported again without re-running them")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    variants = args.variants.split(",")
    if args.fastxai is not None:
        os.environ["DROPIN_FASTXAI"] = str(args.fastxai.resolve())
        sys.path.insert(0, str(args.fastxai.resolve()))
    table, summary = substitution_table()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    reuse = set(variants) if args.report_only else set(filter(None, args.reuse.split(",")))
    old_runs = json.loads((out / "results.json").read_text()).get("runs", []) \
        if reuse and (out / "results.json").exists() else []
    imports: Dict[str, Dict[str, List[str]]] = {}
    for v in variants:
        vt = None if v == "orig" else (diff_table(table) if v == "diff" else table)
        if v in reuse or (args.resume and (out / v / "imports.json").exists()):
            got = json.loads((out / v / "imports.json").read_text())
        else:
            got = prepare_variant(args.captum, out, v, vt)
        if v in ("fx", "diff") or not imports:
            imports = got
    files = sorted(p.relative_to(out / variants[0]).as_posix()
                   for p in (out / variants[0] / "tests" / "attr").rglob("test_*.py"))
    files = [f for f in files if re.search(args.filter, f)]
    same = {v: same_code_files(out, v, files) for v in variants
            if v != "orig" and "orig" in variants and not args.rerun_same}
    runs: List[dict] = []
    for v in variants:  # per-job records first (complete even after a -k run), else results.json
        recs = sorted((out / v / "runs").glob("*.json"))
        if recs and (args.resume or v in reuse):
            runs += [json.loads(p.read_text()) for p in recs]
        elif v in reuse:
            runs += [r for r in old_runs if r["variant"] == v]
    done = {(r["variant"], r["file"]) for r in runs}
    jobs = [(v, f) for f in files for v in variants
            if v not in reuse and f not in same.get(v, ()) and (v, f) not in done]
    jobs.sort(key=lambda j: any(j[1] in s_ for s_ in same.values()))  # substituted files first
    if jobs:
        with cf.ThreadPoolExecutor(max_workers=max(1, min(args.jobs, 2))) as pool:
            futs = [pool.submit(run_file, out, v, f, args.timeout, args.threads) for v, f in jobs]
            for fut in cf.as_completed(futs):
                r = fut.result()
                runs.append(r)
                print(f"[{time.strftime('%H:%M:%S')}] {r['variant']:5s} {r['file']} rc={r['rc']} "
                      f"{r['wall_s']} s", flush=True)
    result = summarise(out, files, variants, runs, imports, summary, _meta(args.captum, argv), same)
    print((out / "report.md").read_text())
    return 0 if not result["fastxai_only_failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
