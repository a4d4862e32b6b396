"""Top-k hits by selection in Triton: one program per (map, k).

Same results as ``fastxai.ops.eval_topk_hits.reference_topk_hits`` (tie rule: values > the k-th
largest, then values equal to it in increasing flat index). No sort: the k-th largest is found
by a radix select on the order-preserving integer key of the value (float32 -> int32, float64
-> int64; -0.0 folded into +0.0, so the two tie as in the reference): the sign first, then RB
bits per pass, each pass one read of the row counting, for the 2^RB candidate prefixes at once
(a BLOCK x 2^RB comparison matrix), how many keys are >= the candidate (8 passes for float32, 16
for float64). A second read counts the values above the k-th largest (all / in the mask) and
the tied ones; only when the tied values are split (fewer are needed than there are) a third
read takes the first ``need`` tied values in index order (a running prefix count over blocks).
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _key(x, IS64: tl.constexpr):
    x = tl.where(x == 0.0, 0.0, x)  # -0.0 -> +0.0: they tie, as in the reference's comparisons
    if IS64:
        b = x.to(tl.int64, bitcast=True)
        k = b ^ ((b >> 63) & 0x7FFFFFFFFFFFFFFF)
    else:
        b = x.to(tl.int32, bitcast=True)
        k = b ^ ((b >> 31) & 0x7FFFFFFF)
    return k


@triton.jit
def _count_ge(h_ptr, base, P, cand, IS64: tl.constexpr, BLOCK: tl.constexpr, NC: tl.constexpr):
    """(NC,) int32: number of row keys >= each candidate key."""
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((NC,), dtype=tl.int32)
    for start in range(0, P, BLOCK):
        idx = start + offs
        valid = idx < P
        key = _key(tl.load(h_ptr + base + idx, mask=valid, other=0.0), IS64)
        ge = (key[:, None] >= cand[None, :]) & valid[:, None]
        acc += tl.sum(ge.to(tl.int32), 0)
    return acc


@triton.jit
def _load_keys(h_ptr, m_ptr, base, idx, P, IS64: tl.constexpr):
    """One block of a row: (keys, inside the mask, valid) for the flat indices ``idx``."""
    valid = idx < P
    key = _key(tl.load(h_ptr + base + idx, mask=valid, other=0.0), IS64)
    inside = (tl.load(m_ptr + base + idx, mask=valid, other=0) != 0) & valid
    return key, inside, valid


@triton.jit
def _topk_hits_kernel(h_ptr, m_ptr, ks_ptr, out_ptr, P, T, KS_STRIDE, IS64: tl.constexpr, BLOCK: tl.constexpr,
                      RB: tl.constexpr, NPASS: tl.constexpr, NBITS: tl.constexpr):
    row = tl.program_id(0)
    j = tl.program_id(1)
    base = row.to(tl.int64) * P
    k = tl.load(ks_ptr + row.to(tl.int64) * KS_STRIDE + j)
    NC: tl.constexpr = 1 << RB
    if IS64:
        zero = tl.zeros((), dtype=tl.int64)
        kdt: tl.constexpr = tl.int64
    else:
        zero = tl.zeros((), dtype=tl.int32)
        kdt: tl.constexpr = tl.int32
    # sign of the k-th largest key: non-negative iff at least k keys are >= 0
    d = tl.arange(0, NC)
    c0 = _count_ge(h_ptr, base, P, zero + d.to(kdt) * 0, IS64, BLOCK, NC)
    nonneg = tl.max(c0, 0) >= k
    result = tl.where(nonneg, zero, zero + (-(1 << (NBITS - 1))))
    # then RB bits per pass, top digit first: the largest digit whose prefix keeps >= k keys above
    for pss in tl.static_range(NPASS):
        cand = result | (d.to(kdt) << ((NPASS - 1 - pss) * RB))
        cnt = _count_ge(h_ptr, base, P, cand, IS64, BLOCK, NC)
        if pss == 0:  # the top digit is narrower: NBITS - 1 - (NPASS - 1) * RB bits
            ok = (cnt >= k) & (d < (1 << (NBITS - 1 - (NPASS - 1) * RB)))
        else:
            ok = cnt >= k
        best = tl.max(tl.where(ok, d, 0), 0)
        result = result | (best.to(kdt) << ((NPASS - 1 - pss) * RB))
    kth = result
    # values above the k-th largest (all / in the mask) and the tied ones
    offs = tl.arange(0, BLOCK)
    above = tl.zeros((), dtype=tl.int64)
    hits_above = tl.zeros((), dtype=tl.int64)
    tied = tl.zeros((), dtype=tl.int64)
    hits_tied = tl.zeros((), dtype=tl.int64)
    for start in range(0, P, BLOCK):
        key, inside, valid = _load_keys(h_ptr, m_ptr, base, start + offs, P, IS64)
        gt = (key > kth) & valid
        eq = (key == kth) & valid
        above += tl.sum(gt.to(tl.int32), 0).to(tl.int64)
        hits_above += tl.sum((gt & inside).to(tl.int32), 0).to(tl.int64)
        tied += tl.sum(eq.to(tl.int32), 0).to(tl.int64)
        hits_tied += tl.sum((eq & inside).to(tl.int32), 0).to(tl.int64)
    need = k - above  # tied values taken, lowest index first
    hits = hits_above + hits_tied
    if need < tied:
        hits = hits_above
        run = tl.zeros((), dtype=tl.int64)
        for start in range(0, P, BLOCK):
            key, inside, valid = _load_keys(h_ptr, m_ptr, base, start + offs, P, IS64)
            eq = (key == kth) & valid
            rank = run + tl.cumsum(eq.to(tl.int32), 0).to(tl.int64)  # 1-based rank among the tied values
            hits += tl.sum((eq & inside & (rank <= need)).to(tl.int32), 0).to(tl.int64)
            run += tl.sum(eq.to(tl.int32), 0).to(tl.int64)
    hits = tl.where(k <= 0, 0, hits)
    tl.store(out_ptr + row.to(tl.int64) * T + j, hits)


def topk_hits_triton(h: torch.Tensor, m: torch.Tensor, ks: torch.Tensor, t: int, ks_row_stride: int) -> torch.Tensor:
    """h (N, P) float32/64 contiguous, m (N, P) uint8 contiguous, ks int64 on h's device
    (k = ks[n * ks_row_stride + j], 0 <= k <= P) -> (N, t) int64 hits."""
    n, p = h.shape
    out = torch.zeros(n, t, dtype=torch.int64, device=h.device)
    if n == 0 or p == 0 or t == 0:
        return out
    is64 = h.dtype == torch.float64
    rb = 4
    nbits = 64 if is64 else 32
    npass = -(-(nbits - 1) // rb)
    block = min(1024, triton.next_power_of_2(p))
    _topk_hits_kernel[(n, t)](h, m, ks, out, p, t, ks_row_stride, IS64=is64, BLOCK=block, RB=rb, NPASS=npass,
                              NBITS=nbits)
    return out
