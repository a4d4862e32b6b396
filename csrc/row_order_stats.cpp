// Two adjacent order statistics per row (reference: fastxai/ops/row_order_stats.py).
//   out[r, 0] = sorted(vals[r])[rank[r]],  out[r, 1] = sorted(vals[r])[min(rank[r] + 1, M - 1)]
// Selection per row instead of a full sort (KernelShap's size-k coalitions need only
// the threshold between the k largest normals and the rest, and its neighbour to tell ties).
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

constexpr int64_t kParallelMin = 1 << 16;
constexpr int64_t kSmallRow = 64;  // rows up to this length are ranked by counting

void row_order_stats(std::uintptr_t vals_p, std::uintptr_t rank_p, std::uintptr_t out_p,
                     int64_t R, int64_t M) {
  const float* vals = fastxai::ptr<const float>(vals_p);
  const int64_t* rank = fastxai::ptr<const int64_t>(rank_p);
  float* out = fastxai::ptr<float>(out_p);
  if (M < 1) throw std::invalid_argument("row_order_stats: rows must be non-empty");
  if (M <= kSmallRow) {
    // Short rows: rank every value by counting (M² compares, branch-free and vectorised)
    // instead of nth_element, whose data-dependent branches mispredict on random values.
    // Ties count by position, so ranks are a permutation of 0..M-1 and match a stable sort.
#pragma omp parallel for schedule(static) if (R * M * M >= kParallelMin * 16)
    for (int64_t r = 0; r < R; ++r) {
      const float* v = vals + r * M;
      const int64_t k = rank[r];
      const int64_t k1 = k + 1 < M ? k + 1 : k;
      float lo = v[0], hi = v[0];
      for (int64_t j = 0; j < M; ++j) {
        const float vj = v[j];
        int32_t below = 0;  // values before j that are <= v[j], after j that are < v[j]
        for (int64_t i = 0; i < j; ++i) below += v[i] <= vj;
        for (int64_t i = j + 1; i < M; ++i) below += v[i] < vj;
        lo = below == k ? vj : lo;
        hi = below == k1 ? vj : hi;
      }
      out[2 * r] = lo;
      out[2 * r + 1] = hi;
    }
    return;
  }
#pragma omp parallel if (R * M >= kParallelMin)
  {
    std::vector<float> buf(M);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = rank[r];
      std::copy(vals + r * M, vals + (r + 1) * M, buf.begin());
      std::nth_element(buf.begin(), buf.begin() + k, buf.end());
      out[2 * r] = buf[k];
      out[2 * r + 1] = k + 1 < M ? *std::min_element(buf.begin() + k + 1, buf.end()) : buf[k];
    }
  }
}

}  // namespace

FASTXAI_REGISTER(row_order_stats) {
  m.def("row_order_stats", &row_order_stats, "vals"_a, "rank"_a, "out"_a, "R"_a, "M"_a);
}
