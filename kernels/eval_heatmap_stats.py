"""Fused per-heat-map reductions in Triton: one program per map, BLOCK pixels per step.

Same outputs as ``fastxai.ops.eval_heatmap_stats.reference_heatmap_stats`` (columns
max, first argmax, any-tied-max-in-mask hit, Σh, Σh⁺, Σh·m, Σh⁺·m, Σm, non-finite count);
sums accumulate in float64.
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _heatmap_stats_kernel(h_ptr, m_ptr, out_ptr, P, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    best = tl.load(h_ptr + row * P).to(tl.float64)
    arg = tl.zeros((), dtype=tl.int64)
    hit = tl.zeros((), dtype=tl.int32)
    s_all = tl.zeros((), dtype=tl.float64)
    s_pos = tl.zeros((), dtype=tl.float64)
    s_in = tl.zeros((), dtype=tl.float64)
    s_pos_in = tl.zeros((), dtype=tl.float64)
    count = tl.zeros((), dtype=tl.int64)
    bad = tl.zeros((), dtype=tl.int64)
    for start in range(0, P, BLOCK):
        idx = start + offs
        valid = idx < P
        v = tl.load(h_ptr + row * P + idx, mask=valid, other=float("-inf")).to(tl.float64)
        inside = (tl.load(m_ptr + row * P + idx, mask=valid, other=0) != 0) & valid
        vz = tl.where(valid, v, 0.0)
        pos = tl.where(vz > 0, vz, 0.0)
        s_all += tl.sum(vz, 0)
        s_pos += tl.sum(pos, 0)
        s_in += tl.sum(tl.where(inside, vz, 0.0), 0)
        s_pos_in += tl.sum(tl.where(inside, pos, 0.0), 0)
        count += tl.sum(inside.to(tl.int64), 0)
        finite = (vz == vz) & (vz != float("inf")) & (vz != float("-inf"))
        bad += tl.sum((valid & ~finite).to(tl.int64), 0)
        bmax = tl.max(v, 0)
        is_max = (v == bmax) & valid
        barg = tl.min(tl.where(is_max, idx.to(tl.int64), P), 0)
        bhit = tl.max((is_max & inside).to(tl.int32), 0)
        better = bmax > best
        same = bmax == best
        arg = tl.where(better, barg, arg)
        hit = tl.where(better, bhit, tl.where(same, tl.maximum(hit, bhit), hit))
        best = tl.where(better, bmax, best)
    o = out_ptr + row * 9
    tl.store(o + 0, best)
    tl.store(o + 1, arg.to(tl.float64))
    tl.store(o + 2, hit.to(tl.float64))
    tl.store(o + 3, s_all)
    tl.store(o + 4, s_pos)
    tl.store(o + 5, s_in)
    tl.store(o + 6, s_pos_in)
    tl.store(o + 7, count.to(tl.float64))
    tl.store(o + 8, bad.to(tl.float64))


def heatmap_stats_triton(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(N, P) float heat maps, (N, P) uint8 masks (contiguous) -> (N, 9) float64."""
    n, p = h.shape
    out = torch.empty(n, 9, dtype=torch.float64, device=h.device)
    if n == 0 or p == 0:
        return out.zero_()
    block = min(1024, triton.next_power_of_2(p))
    _heatmap_stats_kernel[(n,)](h, m, out, p, BLOCK=block)
    return out
