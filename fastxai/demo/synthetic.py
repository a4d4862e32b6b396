"""Synthetic lesion X-rays with planted problems, in the ``fastxai bench`` dataset schema.

``write_synthetic(out_dir)`` writes ``images/<id>.png`` (8-bit grey, ``size`` x ``size``) and
``annotations.csv`` (one row per box; an image without a box has one row with empty box fields),
generated from ``seed`` only (same seed -> byte-identical files). The answers are known, so a
report built on a benchmark of these images must find each planted effect:

**Images.** A smooth "anatomy" background (vertical intensity gradient + ``n_bumps`` broad
Gaussian bumps, amplitude 0.15) plus white noise (SD ``noise``), clipped to [0, 1].

**Lesions (the target).** An image is positive (``y_lesion = 1``) with probability
``prevalence``; a positive has one lesion, or two with probability ``p_two_lesions``. A lesion is a
Gaussian blob, SD ``r`` drawn uniformly in [``lesion_sd[0]``, ``lesion_sd[1]``] pixels (given for
64 px, scaled with ``size``), centre uniform in the central 70 % of the image, peak height
``lesion_contrast`` (male patients) or ``lesion_contrast * female_contrast_factor`` (female
patients). Its box is the centre +- 2 r, clipped to the image: continuous pixel coordinates in the
stored image's frame, ``finding = "lesion"``.

**Planted shortcut.** A bright acquisition marker (a ``marker_size`` rectangle of value
``marker_value`` at pixels (2, 2) from the top-left corner, scaled with ``size``, i.e. in the
image border band) — like a "PORTABLE" text marker. Its probability depends on site and label:
``p_marker[site][label]``; by default site ``A`` has it on 90 % of positives and 15 % of
negatives, site ``B`` on 3 % of either. A model can therefore predict "lesion" from the marker
in site A. The ground truth is in the ``marker`` column (0/1; never a model input).
*Expected effects* (a model trained on these data, explained on the test split): attribution
mass in the image border (``border_mass``) is higher for site A than site B and for images with
the marker; localisation (pointing game / hit rate against the lesion box) is lower for site A.

**Planted group gap.** Lesions of female patients are fainter (``female_contrast_factor``,
default 0.45): *expected*: sensitivity (TPR at the model's threshold) and localisation are lower
for ``sex = F`` than ``sex = M``.

**Planted imbalance.** ``sex`` is F with probability ``p_female`` (0.4); ``age_group`` is drawn
from ``age_probs`` over ``0-39, 40-59, 60-79, 80+`` with ``80+`` rare (3 %) and, within
``80+``, F with probability ``p_female_80`` (0.15): *expected*: the audit flags ``80+`` as
under-represented and the ``F x 80+`` intersection as too small to measure (fewer than 10
images at the default 480 images).

**Patients.** ``n_images`` images from patients with 1, 2 or 3 images (probabilities
``images_per_patient``); sex, age group and site are per patient; ids ``P0000``, ... Splits
must therefore be made by patient.

*Observed* (one run of ``fastxai bench --demo``'s model — small_cnn, 12 epochs, seed 0 — on the 123
test images of the default data, Saliency and LayerGradCam; 95 % patient-bootstrap CIs):
TPR F 0.04 (0.00-0.13) vs M 0.58 (0.41-0.74); AUROC F 0.77 vs M 0.99; LayerGradCam hit rate
site A 0.07 (0.00-0.17) vs site B 0.94 (0.85-1.00), its border mass site A 0.51 (0.48-0.54) vs
B 0.39 (0.35-0.43) and 0.56 vs 0.41 with / without the marker; TPR site A 0.59 vs B 0.18 (the
marker raises the score). Numbers move with the model and seed; the directions are the design.

CSV columns: ``image, patient_id, sex, age_group, site, y_lesion, finding, x0, y0, x1, y1,
marker, contrast``.
"""
from __future__ import annotations

import csv
import functools
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

AGE_GROUPS = ("0-39", "40-59", "60-79", "80+")
COLUMNS = ["image", "patient_id", "sex", "age_group", "site", "y_lesion", "finding", "x0", "y0", "x1", "y1",
           "marker", "contrast"]


def _patients(rng: np.random.Generator, n_images: int, p_female: float, p_female_80: float,
              age_probs: Sequence[float], images_per_patient: Sequence[float]) -> List[Dict]:
    rows: List[Dict] = []
    pid = 0
    while len(rows) < n_images:
        age = AGE_GROUPS[rng.choice(4, p=np.asarray(age_probs) / np.sum(age_probs))]
        sex = "F" if rng.random() < (p_female_80 if age == "80+" else p_female) else "M"
        site = "A" if rng.random() < 0.5 else "B"
        k = 1 + rng.choice(len(images_per_patient), p=np.asarray(images_per_patient) / np.sum(images_per_patient))
        for _ in range(min(k, n_images - len(rows))):
            rows.append({"patient_id": f"P{pid:04d}", "sex": sex, "age_group": age, "site": site})
        pid += 1
    return rows


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    return yy, xx


def _background(rng: np.random.Generator, size: int, n_bumps: int) -> np.ndarray:
    yy, xx = _grid(size)
    img = 0.25 + 0.15 * yy / size
    for _ in range(n_bumps):
        cy, cx = rng.uniform(0, size, 2)
        sd = rng.uniform(0.15, 0.3) * size
        img += 0.15 * rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd ** 2))
    return img


def _lesion(rng: np.random.Generator, img: np.ndarray, sd_range: Tuple[float, float], height: float) -> List[float]:
    size = img.shape[0]
    scale = size / 64.0
    sd = rng.uniform(*sd_range) * scale
    cy, cx = rng.uniform(0.15 * size, 0.85 * size, 2)
    yy, xx = _grid(size)
    img += height * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd ** 2))
    box = [cx - 2 * sd, cy - 2 * sd, cx + 2 * sd, cy + 2 * sd]
    return [round(float(np.clip(v, 0, size)), 2) for v in box]


def write_synthetic(
    out_dir: Union[str, os.PathLike],
    n_images: int = 480,
    size: int = 64,
    seed: int = 0,
    *,
    prevalence: float = 0.5,
    p_two_lesions: float = 0.15,
    lesion_sd: Tuple[float, float] = (2.0, 3.5),
    lesion_contrast: float = 0.45,
    female_contrast_factor: float = 0.45,
    noise: float = 0.06,
    n_bumps: int = 3,
    marker_size: Tuple[int, int] = (4, 10),
    marker_value: float = 0.95,
    p_marker: Dict[str, Tuple[float, float]] = None,  # type: ignore[assignment]
    p_female: float = 0.4,
    p_female_80: float = 0.15,
    age_probs: Sequence[float] = (0.3, 0.4, 0.27, 0.03),
    images_per_patient: Sequence[float] = (0.6, 0.3, 0.1),
) -> Path:
    """Write the synthetic dataset to ``out_dir``; returns the CSV path.

    ``p_marker`` maps site -> (P(marker | negative), P(marker | positive)); default
    ``{"A": (0.15, 0.9), "B": (0.03, 0.03)}``. ``marker_size`` is (height, width) in pixels at
    64 px. See the module docstring for every parameter's effect.
    """
    from PIL import Image

    p_marker = p_marker or {"A": (0.15, 0.9), "B": (0.03, 0.03)}
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    scale = size / 64.0
    mh, mw = max(1, round(marker_size[0] * scale)), max(1, round(marker_size[1] * scale))
    m0 = max(1, round(2 * scale))
    rows: List[Dict] = []
    for i, person in enumerate(_patients(rng, n_images, p_female, p_female_80, age_probs, images_per_patient)):
        img = _background(rng, size, n_bumps)
        y = int(rng.random() < prevalence)
        height = lesion_contrast * (female_contrast_factor if person["sex"] == "F" else 1.0)
        boxes = [_lesion(rng, img, lesion_sd, height) for _ in range(y * (1 + int(rng.random() < p_two_lesions)))]
        marker = int(rng.random() < p_marker[person["site"]][y])
        img += rng.normal(0.0, noise, img.shape)
        if marker:
            img[m0:m0 + mh, m0:m0 + mw] = marker_value
        name = f"images/img{i:05d}.png"
        Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(out / name)
        base = {"image": name, **person, "y_lesion": y, "marker": marker, "contrast": round(height * y, 4)}
        for box in boxes or [None]:
            coords = dict(zip(("x0", "y0", "x1", "y1"), box)) if box else dict.fromkeys(("x0", "y0", "x1", "y1"), "")
            rows.append({**base, "finding": "lesion" if box else "", **coords})
    csv_path = out / "annotations.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return csv_path
