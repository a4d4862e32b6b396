// Two adjacent order statistics per row (reference: fastxai/ops/row_order_stats.py).
//   out[r, 0] = sorted(vals[r])[rank[r]],  out[r, 1] = sorted(vals[r])[min(rank[r] + 1, M - 1)]
// Selection per row instead of a full sort (KernelShap's size-k coalitions need only
// the threshold between the k largest normals and the rest, and its neighbour to tell ties).
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "buffer.h"
#include "order_stats.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

constexpr int64_t kParallelMin = 1 << 16;

void row_order_stats(std::uintptr_t vals_p, std::uintptr_t rank_p, std::uintptr_t out_p,
                     int64_t R, int64_t M) {
  const float* vals = fastxai::ptr<const float>(vals_p);
  const int64_t* rank = fastxai::ptr<const int64_t>(rank_p);
  float* out = fastxai::ptr<float>(out_p);
  if (M < 1) throw std::invalid_argument("row_order_stats: rows must be non-empty");
  const int64_t work = M <= fastxai::kCountingRankMax ? R * M * M / 16 : R * M;
#pragma omp parallel if (work >= kParallelMin)
  {
    std::vector<float> scratch(M > fastxai::kCountingRankMax ? M : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r)
      fastxai::order_stat_pair(vals + r * M, M, rank[r], out + 2 * r, out + 2 * r + 1, scratch.data());
  }
}

}  // namespace

FASTXAI_REGISTER(row_order_stats) {
  m.def("row_order_stats", &row_order_stats, "vals"_a, "rank"_a, "out"_a, "R"_a, "M"_a);
}
