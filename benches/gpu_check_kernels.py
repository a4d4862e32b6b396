"""Every Triton kernel of ``kernels/`` run through its op against the op's torch reference.

Used by ``benches/gpu_check.py`` (compiled on a GPU; under ``TRITON_INTERPRET=1`` with CPU
tensors in CI). Inputs are drawn fresh from ``seed``; the op runs on ``device`` with the Triton
backend forced, the reference runs on the CPU copies of the same inputs. Ops whose results are
promised bit-identical across backends (copies, counts, the counter-based random numbers, RISE
masks, the IG step sums) must match exactly; the rest within a tight tolerance. Every public
launcher in ``fastxai.kernels.*`` is wrapped and counted, so a kernel without a case here is
reported as *not exercised* (and fails the check).
"""
from __future__ import annotations

import importlib
import pkgutil
import types
from typing import Any, Callable, Dict, List, Tuple

import torch

Check = Tuple[str, Any, Any, bool]  # label, got, reference, must be bit-identical


def wrap_launchers() -> Tuple[Dict[str, int], Callable[[], None]]:
    """Replace every public launcher in ``fastxai.kernels.*`` by a counting wrapper; returns the
    counts and a function that puts the originals back."""
    import fastxai.kernels as kpkg

    counts: Dict[str, int] = {}
    originals: List[Tuple[Any, str, Any]] = []
    for info in pkgutil.iter_modules(kpkg.__path__):
        mod = importlib.import_module(f"fastxai.kernels.{info.name}")
        for name, obj in list(vars(mod).items()):
            if name.startswith("_") or not isinstance(obj, types.FunctionType) or obj.__module__ != mod.__name__:
                continue  # @triton.jit functions are JITFunction objects, not launchers
            key = f"{info.name}.{name}"
            counts[key] = 0

            def counted(*a: Any, _f: Callable[..., Any] = obj, _k: str = key, **kw: Any) -> Any:
                counts[_k] += 1
                return _f(*a, **kw)

            originals.append((mod, name, obj))
            setattr(mod, name, counted)

    def restore() -> None:
        for mod, name, obj in originals:
            setattr(mod, name, obj)
    return counts, restore


def _cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.cpu()
    if isinstance(x, (tuple, list)):
        return type(x)(_cpu(v) for v in x)
    return x


def _ablate(dev: torch.device, g: torch.Generator, big: bool) -> List[Check]:
    from fastxai.ops import ablate as A

    n, c, h, w = (8, 3, 64, 64) if big else (3, 2, 5, 7)
    x, base = torch.randn(n, c, h, w, generator=g), torch.randn(1, c, h, w, generator=g)
    mask = torch.randint(0, 50, (1, 1, h, w), generator=g)
    ids = torch.randperm(50, generator=g)[:7]
    starts = torch.stack([torch.randint(0, 1, (9,), generator=g), torch.randint(0, h - 2, (9,), generator=g),
                          torch.randint(0, w - 3, (9,), generator=g)], 1)
    z = torch.rand(4, n, 50, generator=g) > 0.5
    x1, s1 = torch.randn(2, 4099 if big else 13, generator=g), torch.tensor([[0], [9]])
    d = lambda t: t.to(dev)
    return [
        ("ablate_by_id", A.ablate_by_id(d(x), d(base), d(mask), d(ids)), A.reference_ablate_by_id(x, base, mask, ids), True),
        ("occlude_boxes 4D", A.occlude_boxes(d(x), d(base), d(starts), (1, 2, 3)),
         A.reference_occlude_boxes(x, base, starts, (1, 2, 3)), True),
        ("occlude_boxes 2D", A.occlude_boxes(d(x1), d(torch.zeros(1)), d(s1), (4,)),
         A.reference_occlude_boxes(x1, torch.zeros(1), s1, (4,)), True),
        ("blend_coalitions", A.blend_coalitions(d(x), d(base), d(mask), d(z)),
         A.reference_blend_coalitions(x, base, mask, z), True),
    ]


def _random(dev: torch.device, g: torch.Generator, big: bool) -> List[Check]:
    from fastxai import backends
    from fastxai.ops import coalitions as C
    from fastxai.ops.philox import philox_uniform, reference_philox_uniform
    from fastxai.ops.rise_masks import reference_rise_masks, rise_masks

    seed = int(torch.randint(0, 2**31, (1,), generator=g))
    rows, m = (2000, 1030) if big else (5, 37)
    s, e = torch.arange(rows) * 5 + 1, torch.arange(rows) % 3
    out = [
        ("coalition_keys", C.coalition_keys(seed, s.to(dev), e.to(dev), m, stream=1),
         C.reference_coalition_keys(seed, s, e, m, stream=1), True),
        ("bernoulli_coalitions", C.bernoulli_coalitions(seed, s.to(dev), e.to(dev), m, p=0.3, stream=1),
         C.reference_coalition_keys(seed, s, e, m, stream=1) < 0.3, True),
    ]
    with backends.use_backend("torch"):
        ref_z, ref_p = C.shapley_kernel_coalitions(seed, s, e, 9), C.permutations(seed, s, 9)
    out += [("shapley_kernel_coalitions", C.shapley_kernel_coalitions(seed, s.to(dev), e.to(dev), 9), ref_z, True),
            ("permutations", C.permutations(seed, s.to(dev), 9), ref_p, True)]
    n = 1 << 20 if big else 3001
    out.append(("philox_uniform", philox_uniform(seed, n, 7, 3, 2, 1, device=dev),
                reference_philox_uniform(seed, torch.arange(7, 7 + n), 3, 2, 1), True))
    p1 = 64 if big else 20
    shapes = [((224, 224), (7, 7)), ((13, 17), (3, 4)), ((5, 6, 7), (2, 3, 2)), ((11,), (4,))]
    for spatial, grid in (shapes if big else shapes[1:]):
        out.append((f"rise_masks {spatial}", rise_masks(seed, 5, p1, spatial, grid, 0.5, device=dev),
                    reference_rise_masks(seed, 5, p1, spatial, grid, 0.5), True))
    return out


def _ig(dev: torch.device, g: torch.Generator, big: bool) -> List[Check]:
    from fastxai.ops.ig_path import ig_interpolate, ig_weighted_sum, reference_ig_interpolate, reference_ig_weighted_sum

    out = []
    shapes = [((8, 3, 224, 224), torch.float32), ((3, 1025), torch.float64)] if big else \
        [((2, 3, 7, 5), torch.float32), ((3, 1025), torch.float64)]
    for shape, dt in shapes:
        x = torch.randn(shape, generator=g).to(dt)
        b = torch.randn((1,) + shape[1:], generator=g).to(dt)
        a = torch.rand(4, generator=g, dtype=torch.float64)
        gr = torch.randn((4 * shape[0],) + shape[1:], generator=g).to(dt)
        acc = torch.randn(shape, generator=g, dtype=torch.float64)
        out.append((f"ig_interpolate {dt}", ig_interpolate(x.to(dev), b.to(dev), a), reference_ig_interpolate(x, b, a), False))
        out.append((f"ig_weighted_sum {dt}", ig_weighted_sum(gr.to(dev), a, shape[0], acc.clone().to(dev)),
                    reference_ig_weighted_sum(gr, a, shape[0], acc.clone()), True))
    return out


def _eval(dev: torch.device, g: torch.Generator, big: bool) -> List[Check]:
    from fastxai.ops import eval_heatmap_stats as HS, eval_overlap_thresholds as OT, eval_topk_hits as TK

    out: List[Check] = []
    for n, p in ([(4, 1500), (16, 50176)] if big else [(3, 37), (2, 1500)]):
        for dt in (torch.float32, torch.float64):
            h = torch.randint(-4, 5, (n, p), generator=g).to(dt) * 0.25  # quarter steps: exact sums, ties
            m = torch.rand(n, p, generator=g) > 0.6
            ks = [1, p // 3, p]
            out += [
                (f"heatmap_stats {n}x{p} {dt}", HS.heatmap_stats(h.to(dev), m.to(dev)), HS.reference_heatmap_stats(h, m), False),
                (f"overlap_thresholds {n}x{p} {dt}", OT.overlap_thresholds(h.to(dev), m.to(dev), [0.75, 0.25, 0.5, 0.0]),
                 OT.reference_overlap_thresholds(h, m, [0.75, 0.25, 0.5, 0.0]), True),
                (f"topk_hits {n}x{p} {dt}", TK.topk_hits(h.to(dev), m.to(dev), ks), TK.reference_topk_hits(h, m, ks), True),
                (f"topk_hits_per_row {n}x{p} {dt}", TK.topk_hits_per_row(h.to(dev), m.to(dev), m.sum(1).to(dev)),
                 TK.reference_topk_hits_per_row(h, m, m.sum(1)), True),
            ]
    spatial = (7, 9)
    h = torch.randint(-3, 4, (3, 63), generator=g).float() * 0.5
    r = torch.tensor([[0, 1, 1, 3, 2, 6], [0, 1, 0, 0, 0, 0]]).repeat(3, 1, 1)
    out.append(("overlap_thresholds_boxes", OT.overlap_thresholds_boxes(h.to(dev), r.to(dev), spatial, [0.0, 0.25, 0.5]),
                OT.reference_overlap_thresholds_boxes(h, r, spatial, [0.0, 0.25, 0.5]), True))
    return out


def _compare(got: Any, ref: Any, exact: bool) -> Tuple[bool, bool, float]:
    """(passed, bit-identical, max |difference|) over tensors or tuples of tensors."""
    got, ref = _cpu(got), _cpu(ref)
    pairs = list(zip(got, ref)) if isinstance(got, (tuple, list)) else [(got, ref)]
    same = all(a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b) for a, b in pairs)
    diff = 0.0
    for a, b in pairs:
        if a.shape == b.shape and a.numel():
            d = (a.double() - b.double()).abs()
            d = torch.where(torch.isnan(a.double()) & torch.isnan(b.double()), torch.zeros_like(d), d)
            diff = max(diff, float(d.nan_to_num(float("inf")).max()))
    ok = same if exact else all(a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6,
                                                                       equal_nan=True) for a, b in pairs)
    return ok, same, diff


def run_checks(device: str, seed: int, big: bool) -> Tuple[List[str], bool]:
    """All cases on ``device``; returns (markdown lines, every check passed and every launcher ran)."""
    counts, restore = wrap_launchers()
    try:
        return _run(counts, device, seed, big)
    finally:
        restore()


def _run(counts: Dict[str, int], device: str, seed: int, big: bool) -> Tuple[List[str], bool]:
    from fastxai import backends

    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    lines = [f"### Triton kernels vs their torch reference (device {device}, seed {seed})", "",
             "| op / case | required | bit-identical | max abs diff | result |", "|---|---|---|---:|---|"]
    ok_all = True
    with backends.use_backend("triton"):
        for group in (_ablate, _random, _ig, _eval):
            try:
                checks = group(dev, g, big)
            except Exception as exc:  # noqa: BLE001 - report, keep going
                lines.append(f"| {group.__name__[1:]} | — | — | — | **ERROR** {type(exc).__name__}: {str(exc)[:200]} |")
                ok_all = False
                continue
            for label, got, ref, exact in checks:
                ok, same, diff = _compare(got, ref, exact)
                ok_all &= ok
                lines.append(f"| {label} | {'exact' if exact else 'close'} | {'yes' if same else 'no'} | "
                             f"{diff:.3g} | {'ok' if ok else '**FAIL**'} |")
    missing = sorted(k for k, v in counts.items() if v == 0)
    lines += ["", f"Launchers exercised: {sum(1 for v in counts.values() if v)} of {len(counts)}"
              + (f"; **not exercised: {', '.join(missing)}**" if missing else " (all)."), ""]
    return lines, ok_all and not missing
