// Fused per-heat-map reductions for the localisation metrics, one pass per map:
//   out[n, :] = [max, first argmax, any tied max inside mask, sum, sum of positive part,
//                sum inside mask, positive sum inside mask, mask pixel count, non-finite count]
// over h[n, 0:P] (float32 or float64) and m[n, 0:P] (uint8, nonzero = inside).
// Sums accumulate in double. Same results as fastxai.ops.eval_heatmap_stats.reference_heatmap_stats.
#include <cmath>
#include <cstdint>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

constexpr int kStats = 9;

template <typename T>
void heatmap_stats(std::uintptr_t h_ptr, std::uintptr_t m_ptr, std::uintptr_t out_ptr, int64_t n,
                   int64_t p) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  double* out = fastxai::ptr<double>(out_ptr);
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t r = 0; r < n; ++r) {
    const T* hr = h + r * p;
    const uint8_t* mr = m + r * p;
    T best = p > 0 ? hr[0] : T(0);
    int64_t arg = 0;
    bool hit = false;
    double sum = 0, sum_pos = 0, sum_in = 0, sum_pos_in = 0;
    int64_t count = 0, nonfinite = 0;
    for (int64_t i = 0; i < p; ++i) {
      const T v = hr[i];
      const bool in = mr[i] != 0;
      if (!std::isfinite(v)) ++nonfinite;
      if (v > best) {
        best = v;
        arg = i;
        hit = in;
      } else if (v == best) {
        hit = hit || in;
      }
      const double d = static_cast<double>(v);
      const double pos = d > 0 ? d : 0.0;
      sum += d;
      sum_pos += pos;
      if (in) {
        sum_in += d;
        sum_pos_in += pos;
        ++count;
      }
    }
    double* o = out + r * kStats;
    o[0] = static_cast<double>(best);
    o[1] = static_cast<double>(arg);
    o[2] = hit ? 1.0 : 0.0;
    o[3] = sum;
    o[4] = sum_pos;
    o[5] = sum_in;
    o[6] = sum_pos_in;
    o[7] = static_cast<double>(count);
    o[8] = static_cast<double>(nonfinite);
  }
}

}  // namespace

FASTXAI_REGISTER(eval_heatmap_stats) {
  m.def("eval_heatmap_stats_f32", &heatmap_stats<float>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a,
        "p"_a, "Fused per-map max/argmax/hit/sums over float32 h[n,p] and uint8 mask m[n,p].");
  m.def("eval_heatmap_stats_f64", &heatmap_stats<double>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a,
        "p"_a, "Fused per-map max/argmax/hit/sums over float64 h[n,p] and uint8 mask m[n,p].");
}
