"""An in-memory run with the reader API of docs/RUN_FOLDER.md and known, planted effects.

Planted (all drawn from a seeded generator, so tests check the report *finds* them):
* sex = F: sensitivity 0.55 vs 0.90 for M (a group gap);
* site = B: the maps put their mass on the image border (a shortcut) and miss the box;
* site = C: 12 images (too small to measure, under-represented);
* method "Good" beats every baseline on pointing game; "Blind" equals the centre prior.
``markup=True`` names a group and a method with HTML markup (must render as text).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SIZE = 16
MARKUP_GROUP = '<script>alert("x")</script><b>bold</b>'
MARKUP_METHOD = "Good<img src=x onerror=alert(1)>"


class FakeRun:
    def __init__(self, n: int = 240, seed: int = 0, markup: bool = False, with_maps: bool = True) -> None:
        rng = np.random.default_rng(seed)
        self.n, self.rng, self.with_maps = n, rng, with_maps
        site = np.array(["A"] * (n // 2) + ["B"] * (n - n // 2 - 12) + ["C"] * 12)
        sex = rng.choice(["F", "M"], n)
        if markup:
            sex = np.where(sex == "F", MARKUP_GROUP, sex)
        self.good = MARKUP_METHOD if markup else "Good"
        self.female = MARKUP_GROUP if markup else "F"
        pid = [f"p{i // 2 if i < 60 else i}" for i in range(n)]  # the first 60 images: 2 per patient
        y = (rng.random(n) < 0.5).astype(int)
        self._samples = pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(n)],
                                      "image": [f"<i>img</i>_{i}.png" if markup else f"img_{i}.png" for i in range(n)],
                                      "patient_id": pid, "split": "test", "sex": sex, "site": site, "label": y})
        x0 = rng.integers(1, SIZE - 4, n)
        y0 = rng.integers(1, SIZE - 4, n)
        pos = y == 1
        self._boxes = pd.DataFrame({"sample_id": self._samples["sample_id"][pos], "finding": "lesion",
                                    "x0": x0[pos], "y0": y0[pos], "x1": x0[pos] + 4, "y1": y0[pos] + 4})
        sens = np.where(sex == self.female, 0.55, 0.90)
        hit = rng.random(n) < np.where(y == 1, sens, 0.1)
        self._score = np.clip(np.where(hit, 0.75, 0.25) + rng.normal(0, 0.1, n), 0.01, 0.99)
        self._maps = self._make_maps(x0, y0, site)
        self.config = {"name": "fake <run>", "groups": ["sex", "site"],
                       "methods": [{"name": self.good, "class": "IntegratedGradients", "params": {"n_steps": 8}},
                                   {"name": "Blind", "class": "Occlusion"}]}
        self.provenance = {"run_id": "fake-0001", "dataset_hash": "abc123", "weights_hash": {"cnn": "def456"},
                           "fastxai": "test"}

    def _make_maps(self, x0, y0, site):
        n, rng = self.n, self.rng
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        maps = {}
        good = np.exp(-((xx[None] - (x0 + 1.5)[:, None, None]) ** 2 + (yy[None] - (y0 + 1.5)[:, None, None]) ** 2) / 4.0)
        border = np.zeros((SIZE, SIZE))
        border[:2, :] = 1.0
        shortcut = site == "B"
        good[shortcut] = border + 0.05 * rng.random((int(shortcut.sum()), SIZE, SIZE))
        maps[self.good] = good
        centre = np.exp(-((xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2) / 30.0)
        maps["Blind"] = np.repeat(centre[None], n, 0) + 0.01 * rng.random((n, SIZE, SIZE))
        maps["baseline:centre"] = np.repeat(centre[None], n, 0)
        maps["baseline:random"] = rng.random((n, SIZE, SIZE))
        return maps

    def samples(self):
        return self._samples.copy()

    def boxes(self):
        return self._boxes.copy()

    def cells(self):
        return pd.DataFrame({"stage": ["explain", "explain", "evaluate"], "model": "cnn",
                             "method": [self.good, "Blind", "Blind"], "status": ["done", "done", "failed"]})

    def predictions(self):
        return pd.DataFrame({"model": "cnn", "sample_id": self._samples["sample_id"], "target": 1,
                             "y_true": self._samples["label"], "y_score": self._score})

    def scores(self):
        rows = []
        ids = self._samples["sample_id"].to_numpy()
        has_box = self._samples["sample_id"].isin(self._boxes["sample_id"]).to_numpy()
        bx = self._boxes.set_index("sample_id")
        for meth, maps in self._maps.items():
            flat = maps.reshape(self.n, -1).argmax(1)
            ys, xs = flat // SIZE, flat % SIZE
            for i in range(self.n):
                v = np.nan
                if has_box[i]:
                    b = bx.loc[ids[i]]
                    v = float(b.x0 <= xs[i] < b.x1 and b.y0 <= ys[i] < b.y1)
                rows.append(("cnn", meth, "pointing_game", ids[i], v))
                rows.append(("cnn", meth, "deletion_auc", ids[i], float(self.rng.random())))
        return pd.DataFrame(rows, columns=["model", "method", "metric", "sample_id", "value"])

    def curves(self):
        rows = [("cnn", m, c, s, k, float(np.exp(-k / 3) if c == "deletion" else 1 - np.exp(-k / 3)))
                for m in self._maps for c in ("deletion", "insertion") for s in self._samples["sample_id"][:5]
                for k in range(6)]
        return pd.DataFrame(rows, columns=["model", "method", "curve", "sample_id", "step", "value"])

    def timings(self):
        return pd.DataFrame({"model": "cnn", "method": [self.good, "Blind"], "stage": "explain",
                             "seconds": [0.5, 0.2], "n_samples": [self.n, self.n], "floor_seconds": [0.4, 0.1]})

    def aggregates(self):
        return pd.DataFrame(columns=["model", "method", "metric", "group_feature", "group", "value", "ci_low",
                                     "ci_high", "n"])

    def maps(self, model, method, sample_ids, target=None):
        if not self.with_maps or method not in self._maps:
            raise KeyError(f"no maps saved for {method}")
        idx = self._samples.reset_index().set_index("sample_id").loc[list(sample_ids), "index"].to_numpy()
        return self._maps[method][idx]

    def images(self, sample_ids):
        idx = self._samples.reset_index().set_index("sample_id").loc[list(sample_ids), "index"].to_numpy()
        g = np.random.default_rng(1)
        return g.random((len(idx), 1, SIZE, SIZE)) * 0.3 + 0.2
