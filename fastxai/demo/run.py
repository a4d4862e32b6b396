"""``fastxai demo``: explain a tiny CNN's lesion predictions with several methods, print a
summary (time, pointing-game hits against the known lesion box) and save PNG overlays."""
from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

from fastxai.attr.visualization import save_overlay_png
from fastxai.demo.data import make_images
from fastxai.demo.model import train_demo_model


def _methods(model: torch.nn.Module) -> List[Tuple[str, Callable[[Tensor, Tensor], Tensor]]]:
    from fastxai import attr

    grid = torch.arange(64).reshape(8, 8).repeat_interleave(4, 0).repeat_interleave(4, 1)
    out: List[Tuple[str, Callable[[Tensor, Tensor], Tensor]]] = [
        ("Occlusion 4x4/2", lambda x, t: attr.Occlusion(model).attribute(
            x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), target=t)),
        ("FeatureAblation 8x8 grid", lambda x, t: attr.FeatureAblation(model).attribute(
            x, target=t, feature_mask=grid.reshape(1, 1, 32, 32))),
        ("RISE 1000 masks", lambda x, t: attr.RISE(model).attribute(
            x, target=t, n_masks=1000, grid_size=6, seed=0)),
    ]
    if hasattr(attr, "IntegratedGradients"):
        out.append(("IntegratedGradients", lambda x, t: attr.IntegratedGradients(model).attribute(
            x, target=t, n_steps=32)))
    if hasattr(attr, "KernelShap"):
        out.append(("KernelShap 200", lambda x, t: attr.KernelShap(model).attribute(
            x, target=t, feature_mask=grid.reshape(1, 1, 32, 32), n_samples=200)))
    return out


def pointing_hits(heat: Tensor, boxes: Tensor) -> Tensor:
    """(N, 1, H, W) maps, (N, 4) boxes -> (N,) bool: is the first arg-max inside the box?"""
    flat = heat.reshape(heat.shape[0], -1).argmax(dim=1)
    w = heat.shape[-1]
    ys, xs = flat // w, flat % w
    return (xs >= boxes[:, 0]) & (xs < boxes[:, 2]) & (ys >= boxes[:, 1]) & (ys < boxes[:, 3])


def main(out_dir: str = "fastxai_out", n_images: int = 8) -> Dict[str, float]:
    """Run the demo; returns {method: pointing-game hit rate}."""
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = train_demo_model()
    x, y, boxes = make_images(64, seed=123)
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    pos = (y == 1).nonzero().flatten()[:n_images]
    x, boxes = x[pos], boxes[pos]
    target = torch.ones(len(pos), dtype=torch.long)
    print(f"demo model trained in {time.perf_counter() - t0:.1f}s, accuracy {acc:.2f} on 64 held-out images")
    print(f"explaining {len(pos)} lesion images (1x32x32) with fastxai\n")
    print(f"{'method':28s} {'seconds':>8s} {'pointing game':>14s}")
    os.makedirs(out_dir, exist_ok=True)
    results: Dict[str, float] = {}
    for name, run in _methods(model):
        t = time.perf_counter()
        a = run(x, target)
        dt = time.perf_counter() - t
        heat = a.sum(dim=1, keepdim=True)
        hits = pointing_hits(heat, boxes).float().mean().item()
        results[name] = hits
        print(f"{name:28s} {dt:8.2f} {hits:14.2f}")
        slug = name.split()[0].lower()
        for i in range(min(4, len(pos))):
            big = lambda t: t.repeat_interleave(4, 0).repeat_interleave(4, 1).numpy()  # 128x128 to view
            save_overlay_png(big(heat[i, 0]), big(x[i, 0]), os.path.join(out_dir, f"{slug}_{i}.png"),
                             sign="positive")
    print(f"\nPNG overlays written to {os.path.abspath(out_dir)}/")
    return results
