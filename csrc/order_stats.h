// Two adjacent order statistics of one float row, by selection instead of a sort; shared by
// row_order_stats.cpp and captum_kernel_shap_draws.cpp (reference: fastxai/ops/row_order_stats.py).
#pragma once
#include <algorithm>
#include <cstdint>

namespace fastxai {

constexpr int64_t kCountingRankMax = 64;  // rows up to this length are ranked by counting

// lo = sorted(v)[k], hi = sorted(v)[min(k + 1, M - 1)]. ``scratch`` holds M floats and is
// used only for rows longer than kCountingRankMax.
inline void order_stat_pair(const float* v, int64_t M, int64_t k, float* lo_out, float* hi_out,
                            float* scratch) {
  const int64_t k1 = k + 1 < M ? k + 1 : k;
  if (M <= kCountingRankMax) {
    // Short rows: rank every value by counting (M² compares, branch-free and vectorised)
    // instead of nth_element, whose data-dependent branches mispredict on random values.
    // Ties count by position, so ranks are a permutation of 0..M-1 and match a stable sort.
    float lo = v[0], hi = v[0];
    for (int64_t j = 0; j < M; ++j) {
      const float vj = v[j];
      int32_t below = 0;  // values before j that are <= v[j], after j that are < v[j]
      for (int64_t i = 0; i < j; ++i) below += v[i] <= vj;
      for (int64_t i = j + 1; i < M; ++i) below += v[i] < vj;
      lo = below == k ? vj : lo;
      hi = below == k1 ? vj : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
    return;
  }
  std::copy(v, v + M, scratch);
  std::nth_element(scratch, scratch + k, scratch + M);
  *lo_out = scratch[k];
  *hi_out = k + 1 < M ? *std::min_element(scratch + k + 1, scratch + M) : scratch[k];
}

}  // namespace fastxai
