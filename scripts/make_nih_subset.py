"""Build the bundled real demo subset: ~300 NIH ChestX-ray14 images with radiologist boxes.

Reads ``../shared/data/nih_cxr14_bbox`` (880 images, 256x256, one CSV row per box), picks whole
patients in a seeded hash order until ``--n-images`` images are taken, assigns each patient to
train / val / test (60 / 20 / 20 % of the chosen patients, same order: a split by patient),
downsamples every image to 128x128 with PIL ``BOX`` (exact 2x2 means) and halves the boxes.
Writes ``fastxai/demo/assets/nih_cxr14_subset/`` (images/, annotations.csv, README.md).

Usage: python scripts/make_nih_subset.py [--src PATH] [--out PATH] [--n-images 300] [--seed 0]
The output is byte-for-byte reproducible for the same source, arguments and Pillow version.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the repository (CI's clone), or one level further up (a git worktree)
DEFAULT_SRC = next((p for p in (REPO.parent / "shared" / "data" / "nih_cxr14_bbox",
                                REPO.parent.parent / "shared" / "data" / "nih_cxr14_bbox") if p.is_dir()),
                   REPO.parent / "shared" / "data" / "nih_cxr14_bbox")
DEFAULT_OUT = REPO / "fastxai" / "demo" / "assets" / "nih_cxr14_subset"
SIZE = 128
DROP = {"label", "mask", "box_id"}  # constant or empty in the source; box_id is re-derived by order
BOX_COLS = ("x0", "y0", "x1", "y1")


def _order_key(seed: int, patient: str) -> str:
    return hashlib.sha256(f"{seed}:{patient}".encode()).hexdigest()


def choose(rows: List[Dict[str, str]], n_images: int, seed: int) -> Dict[str, str]:
    """image -> split for whole patients taken in hash order until n_images images are chosen."""
    by_patient: Dict[str, List[str]] = {}
    for r in rows:
        imgs = by_patient.setdefault(r["patient_id"], [])
        if r["image"] not in imgs:
            imgs.append(r["image"])
    order = sorted(by_patient, key=lambda p: _order_key(seed, p))
    chosen: List[str] = []
    total = 0
    for p in order:
        k = len(by_patient[p])
        if total + k <= n_images:
            chosen.append(p)
            total += k
        if total == n_images:
            break
    n = len(chosen)
    cut1, cut2 = round(0.6 * n), round(0.8 * n)
    split = {}
    for i, p in enumerate(chosen):
        name = "train" if i < cut1 else "val" if i < cut2 else "test"
        for img in by_patient[p]:
            split[img] = name
    return split


def _count(values: List[str]) -> str:
    out: Dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return ", ".join(f"{k} {out[k]}" for k in sorted(out))


def _readme(rows: List[Dict[str, str]], split: Dict[str, str], args: argparse.Namespace) -> str:
    """The subset's README: provenance, licence, citation and its own counts."""
    per_image = {r["image"]: r for r in rows}.values()
    n_pat = {s: len({r["patient_id"] for r in rows if split[r["image"]] == s}) for s in ("train", "val", "test")}
    return README.format(
        n_images=len(split), n_boxes=len(rows), n_patients=len({r["patient_id"] for r in rows}),
        n_images_arg=args.n_images, seed=args.seed,
        split=_count([split[r["image"]] for r in per_image]),
        split_patients=", ".join(f"{k} {v}" for k, v in n_pat.items()),
        sex=_count([r["sex"] for r in per_image]), age=_count([r["age_group"] for r in per_image]),
        view=_count([r["view_position"] for r in per_image]), finding=_count([r["finding"] for r in rows]))


README = """# NIH ChestX-ray14: bundled demo subset ({n_images} images, {n_boxes} boxes, {n_patients} patients)

Real frontal chest radiographs from the NIH Clinical Center with boxes drawn by a board-certified
radiologist around 8 findings, and each patient's sex, age and the film's view position. Bundled
with fastxai so that the demo (`bash scripts/demo.sh`) runs on real images without a download.

## Files
- `images/<NIH Image Index>.png`: 128 x 128, 8-bit grayscale.
- `annotations.csv`: one row per box (an image with k boxes has k rows), in the `fastxai bench`
  dataset schema: `image` (path relative to this folder), `finding`, `x0, y0, x1, y1` (pixels of the
  128 x 128 image, continuous coordinates, pixel (c, r) covers [c, c+1) x [r, r+1), origin top left),
  `sex` (M/F), `age`, `age_group` (0-39, 40-59, 60-79, 80+), `view_position` (PA/AP), `patient_id`,
  `follow_up`, `nih_labels` (NIH's text-mined image labels, `|`-separated), `y_<Finding>` (0/1: the
  finding is in `nih_labels`; every image has at least one box, so the negatives of one finding are
  images abnormal for another reason), `orig_x, orig_y, orig_w, orig_h` (NIH's box on the 1024 x 1024
  original), `split` (train / val / test, assigned **by patient**).

## Counts (per image unless stated)
- split: {split} (patients: {split_patients})
- sex: {sex}
- age group: {age} (groups this small cannot be reported on their own)
- view position: {view}
- boxes per finding: {finding}

## How it was made (reproducible)
`python scripts/make_nih_subset.py --n-images {n_images_arg} --seed {seed}` from the repository's
`../shared/data/nih_cxr14_bbox` copy (880 images at 256 x 256; its own README documents where each
file came from). Whole patients are taken in the order of `sha256("<seed>:<patient_id>")` until
{n_images_arg} images are chosen; the first 60 % of the chosen patients in that order are `train`, the
next 20 % `val`, the rest `test`. Each image is downsampled 256 -> 128 with PIL `BOX` (exact 2 x 2
means) and every box coordinate is halved (so 0.125 x the 1024-pixel original).

## Source, provenance and licence
- Images: the original 1024 x 1024 NIH PNGs (public GitHub repository `samadon1/radSIM`,
  `public/cases/nih-learning/images/`, commit `e7ae5971e561e35a247826845876bc0258e0f7f9`), resized with
  PIL `BOX` to 256 x 256 for the shared copy, then to 128 x 128 here.
- Boxes and demographics: NIH's `BBox_List_2017.csv` and `Data_Entry_2017_v2020.csv` (as shipped in the
  PyPI wheel `torchxrayvision==1.5.7`); NIH's "Infiltrate" is renamed "Infiltration".
- Licence: the NIH Clinical Center places no restrictions on the use of the NIH chest X-ray images
  (the Kaggle mirror lists them as CC0 1.0). NIH asks users to link the download site
  https://nihcc.app.box.com/v/ChestXray-NIHCC, to cite the paper below, and to acknowledge that
  **the NIH Clinical Center provided the data**.

## Citation
Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. *ChestX-ray8: Hospital-scale Chest X-ray Database and
Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax Diseases.* IEEE CVPR
2017, pp. 3462-3471.

## Caveats
- The image-level labels were text-mined from reports (about 90 % accurate), so `y_*` is noisy.
- Many films carry text markers, tubes and lines ("PORTABLE", "AP", side markers); AP films are mostly
  portable/bedside and AP vs PA correlates with the finding type: a real shortcut risk.
- At 128 px the smallest boxes are a few pixels wide. Race and ethnicity are not available.
- A demonstration set: far too small to support any clinical claim.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n-images", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from PIL import Image

    with open(args.src / "annotations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    split = choose(rows, args.n_images, args.seed)
    scale = SIZE / 256.0
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    for old in (args.out / "images").glob("*.png"):
        old.unlink()
    out_rows = []
    for r in rows:
        if r["image"] not in split:
            continue
        row = {k: v for k, v in r.items() if k not in DROP}
        for c in BOX_COLS:
            row[c] = f"{float(r[c]) * scale:.2f}"
        row["split"] = split[r["image"]]
        out_rows.append(row)
    out_rows.sort(key=lambda r: (r["image"], r["finding"], r["x0"], r["y0"]))
    for img in sorted(split):
        with Image.open(args.src / img) as im:
            small = im.convert("L").resize((SIZE, SIZE), Image.BOX)
            small.save(args.out / img, optimize=True)
    fields = list(out_rows[0].keys())
    with open(args.out / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(out_rows)
    n_pat = len({r["patient_id"] for r in out_rows})
    (args.out / "README.md").write_text(_readme(out_rows, split, args))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(split)} images, {len(out_rows)} boxes, {n_pat} patients, {size / 2**20:.2f} MiB -> {args.out}")


if __name__ == "__main__":
    main()
