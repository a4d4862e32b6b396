// Bootstrap group statistics from bootstrap multiplicities in ONE walk per replicate over the rows
// sorted once by (overall code, score) — the overall AUROC plan of fastxai.eval.group_stats. The
// per-group plan is the stable partition of that order by group, so every group's rows are met in
// its own plan order during the same walk: per-group AUROC state (open tie block, negative weight
// below) is kept per group, and only one random read per row (the multiplicity) is needed.
//   count[b, g]   = Σ_i c_bi                      (c = multiplicity of row i in replicate b)
//   conf[b, g, :] = Σ_i c_bi sw_i [tn, fp, fn, tp] cells
//   auc[b, g, :]  = [Σ w⁺, Σ w⁻, Σ_blocks w⁺ (w⁻ below in the group + ½ w⁻ tied)]
//                   -> AUROC = contrib / (pos · neg)   (Mann-Whitney, ties ½ = sklearn's weighted AUROC)
// the same for the overall codes (control levels; one level without control features).
// Inputs in walk order: order (N,) int64 row index into counts, code_g / code_o (N,) int64,
// y / yhat (N,) uint8, sw (N,) float64 sample weights, score (N,) float64 (ties = equal scores).
// With auroc=false any order works (counts and cells only). ties=false (no two rows of one code share
// a score) takes a lighter walk (each row its own block); unit_weights=true skips the sample-weight
// multiply. Multiplicities are read as float (exact below 2^24). Replicates run in parallel (OpenMP).
#include <cstdint>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

struct Acc {
  std::vector<double> cnt, conf, pos, neg, contrib, pb, nb, below, last;
  std::vector<uint8_t> open;
  explicit Acc(int64_t G)
      : cnt(G, 0.0), conf(4 * G, 0.0), pos(G, 0.0), neg(G, 0.0), contrib(G, 0.0), pb(G, 0.0), nb(G, 0.0),
        below(G, 0.0), last(G, 0.0), open(G, 0) {}
  inline void add(int64_t g, double c, double w, int yi, int yh, double sc, bool auroc) {
    if (auroc) {
      if (open[g] && sc != last[g]) flush(g);
      open[g] = 1;
      last[g] = sc;
      pb[g] += yi ? w : 0.0;
      nb[g] += yi ? 0.0 : w;
    }
    cnt[g] += c;
    conf[4 * g + 2 * yi + yh] += w;
  }
  inline void flush(int64_t g) {
    contrib[g] += pb[g] * (below[g] + 0.5 * nb[g]);
    pos[g] += pb[g];
    neg[g] += nb[g];
    below[g] += nb[g];
    pb[g] = nb[g] = 0.0;
  }
  void write(int64_t b, int64_t G, bool auroc, double* count_out, double* conf_out, double* auc_out) {
    for (int64_t g = 0; g < G; ++g) {
      if (auroc && open[g]) flush(g);
      count_out[b * G + g] = cnt[g];
      for (int j = 0; j < 4; ++j) conf_out[(b * G + g) * 4 + j] = conf[4 * g + j];
      auc_out[(b * G + g) * 3 + 0] = pos[g];
      auc_out[(b * G + g) * 3 + 1] = neg[g];
      auc_out[(b * G + g) * 3 + 2] = contrib[g];
    }
  }
};

// Rows without score ties inside a code (each row its own tie block), for group or overall codes:
// per row two or three updates of that code's state. cell = 4 * code + 2 * y + yhat.
struct NoTie {
  double cnt = 0, conf[4] = {0, 0, 0, 0}, pos = 0, below = 0, contrib = 0;
};

template <bool Unit>
void walk_no_ties(const float* cs, const double* sw, const int32_t* cell_g, const int32_t* cell_o, int64_t N,
                  std::vector<NoTie>& ag, std::vector<NoTie>& ao) {
  NoTie* a = ag.data();
  NoTie* o = ao.data();
  for (int64_t i = 0; i < N; ++i) {
    const double c = cs[i];
    const double w = Unit ? c : c * sw[i];
    const int32_t kg = cell_g[i], ko = cell_o[i];
    NoTie& x = a[kg >> 2];
    NoTie& z = o[ko >> 2];
    x.cnt += c;
    z.cnt += c;
    x.conf[kg & 3] += w;
    z.conf[ko & 3] += w;
    if (kg & 2) {  // positive row: every negative weight below it in its code counts
      x.contrib += w * x.below;
      x.pos += w;
      z.contrib += w * z.below;
      z.pos += w;
    } else {
      x.below += w;
      z.below += w;
    }
  }
}

void write_no_ties(const std::vector<NoTie>& acc, int64_t b, int64_t G, double* count_out, double* conf_out,
                   double* auc_out) {
  for (int64_t g = 0; g < G; ++g) {
    count_out[b * G + g] = acc[g].cnt;
    for (int j = 0; j < 4; ++j) conf_out[(b * G + g) * 4 + j] = acc[g].conf[j];
    auc_out[(b * G + g) * 3 + 0] = acc[g].pos;
    auc_out[(b * G + g) * 3 + 1] = acc[g].below;
    auc_out[(b * G + g) * 3 + 2] = acc[g].contrib;
  }
}

void boot_walk(std::uintptr_t counts_ptr, int64_t B, int64_t N, std::uintptr_t order_ptr, std::uintptr_t code_g_ptr,
               int64_t G, std::uintptr_t code_o_ptr, int64_t C, std::uintptr_t y_ptr, std::uintptr_t yhat_ptr,
               std::uintptr_t sw_ptr, std::uintptr_t score_ptr, bool auroc, bool ties, bool unit_weights,
               bool from_indices,
               std::uintptr_t count_g_ptr, std::uintptr_t conf_g_ptr, std::uintptr_t auc_g_ptr,
               std::uintptr_t count_o_ptr, std::uintptr_t conf_o_ptr, std::uintptr_t auc_o_ptr) {
  const int64_t* counts = fastxai::ptr<const int64_t>(counts_ptr);
  const int64_t* order = fastxai::ptr<const int64_t>(order_ptr);
  const int64_t* code_g = fastxai::ptr<const int64_t>(code_g_ptr);
  const int64_t* code_o = fastxai::ptr<const int64_t>(code_o_ptr);
  const uint8_t* y = fastxai::ptr<const uint8_t>(y_ptr);
  const uint8_t* yhat = fastxai::ptr<const uint8_t>(yhat_ptr);
  const double* sw = fastxai::ptr<const double>(sw_ptr);
  const double* score = fastxai::ptr<const double>(score_ptr);
  // compact per-row cells (int32) once per call, shared by all replicates
  std::vector<int32_t> cell_g(static_cast<size_t>(N)), cell_o(static_cast<size_t>(N)), ord(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const int32_t yy = y[i] != 0, yh = yhat[i] != 0;
    cell_g[i] = static_cast<int32_t>(4 * code_g[i] + 2 * yy + yh);
    cell_o[i] = static_cast<int32_t>(4 * code_o[i] + 2 * yy + yh);
    ord[i] = static_cast<int32_t>(order[i]);
  }
  std::vector<int32_t> inv;
  if (from_indices) {  // walk position of every row, so drawn indices count straight into walk order
    inv.resize(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) inv[ord[i]] = static_cast<int32_t>(i);
  }
  const bool fast = !(auroc && ties);  // without ties (or without AUROC) every row is its own block
#pragma omp parallel for schedule(dynamic, 1) if (B > 1)
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* cb = counts + b * N;
    // the random reads first, in a tight loop (many loads in flight), then the sequential walk
    std::vector<float> cs(static_cast<size_t>(N), 0.0f);
    if (from_indices) {  // cb = the N row indices drawn for replicate b: count them in walk order
      for (int64_t j = 0; j < N; ++j) cs[inv[cb[j]]] += 1.0f;
    } else {  // cb = multiplicities in row order: the random reads first, in a tight loop
      for (int64_t i = 0; i < N; ++i) cs[i] = static_cast<float>(cb[ord[i]]);
    }
    if (fast) {
      std::vector<NoTie> ag(G), ao(C);
      if (unit_weights) walk_no_ties<true>(cs.data(), sw, cell_g.data(), cell_o.data(), N, ag, ao);
      else walk_no_ties<false>(cs.data(), sw, cell_g.data(), cell_o.data(), N, ag, ao);
      write_no_ties(ag, b, G, fastxai::ptr<double>(count_g_ptr), fastxai::ptr<double>(conf_g_ptr),
                    fastxai::ptr<double>(auc_g_ptr));
      write_no_ties(ao, b, C, fastxai::ptr<double>(count_o_ptr), fastxai::ptr<double>(conf_o_ptr),
                    fastxai::ptr<double>(auc_o_ptr));
      continue;
    }
    Acc ag(G), ao(C);
    for (int64_t i = 0; i < N; ++i) {
      const double c = static_cast<double>(cs[i]);
      const double w = c * sw[i];
      const int yi = y[i] != 0, yh = yhat[i] != 0;
      const double sc = score[i];
      ag.add(code_g[i], c, w, yi, yh, sc, true);
      ao.add(code_o[i], c, w, yi, yh, sc, true);
    }
    ag.write(b, G, true, fastxai::ptr<double>(count_g_ptr), fastxai::ptr<double>(conf_g_ptr),
             fastxai::ptr<double>(auc_g_ptr));
    ao.write(b, C, true, fastxai::ptr<double>(count_o_ptr), fastxai::ptr<double>(conf_o_ptr),
             fastxai::ptr<double>(auc_o_ptr));
  }
}

}  // namespace

FASTXAI_REGISTER(eval_boot_walk) {
  m.def("eval_boot_walk", &boot_walk, "counts_ptr"_a, "B"_a, "N"_a, "order_ptr"_a, "code_g_ptr"_a, "G"_a,
        "code_o_ptr"_a, "C"_a, "y_ptr"_a, "yhat_ptr"_a, "sw_ptr"_a, "score_ptr"_a, "auroc"_a, "ties"_a, "unit_weights"_a, "from_indices"_a, "count_g_ptr"_a,
        "conf_g_ptr"_a, "auc_g_ptr"_a, "count_o_ptr"_a, "conf_o_ptr"_a, "auc_o_ptr"_a,
        "Per replicate, per group and per overall code: multiplicity count, weighted confusion cells and "
        "AUROC parts, one walk over rows sorted once by (overall code, score).");
}
