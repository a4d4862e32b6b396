// Fused per-heat-map reductions for the localisation metrics:
//   out[n, :] = [max, first argmax, any tied max inside mask, sum, sum of positive part,
//                sum inside mask, positive sum inside mask, mask pixel count, non-finite count]
// over h[n, 0:P] (float32 or float64) and m[n, 0:P] (uint8, nonzero = inside).
// Pass 1 (SIMD reductions) gives max and the sums: blocks of 64 values are summed in the input
// dtype, blocks are accumulated in double (float32 maps: relative error ~1e-7 of Σ|h|, the
// same order as Quantus' own float32 sums). Pass 2 re-reads the row (cache-resident) for the
// first arg-max and the tie hit. Rows run in parallel (OpenMP). Same results as
// fastxai.ops.eval_heatmap_stats.reference_heatmap_stats up to that summation rounding.
#include <cmath>
#include <cstdint>
#include <limits>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

constexpr int kStats = 9;
constexpr int64_t kBlock = 64;

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
    T best = -std::numeric_limits<T>::infinity();
    double sum = 0, sum_pos = 0, sum_in = 0, sum_pos_in = 0, nonfinite = 0;
    int64_t count = 0;
    // Blocks of kBlock values are summed in T (SIMD lanes), blocks are accumulated in double:
    // the float->double conversion per element costs more than the whole pass otherwise.
    for (int64_t b = 0; b < p; b += kBlock) {
      const int64_t e = b + kBlock < p ? b + kBlock : p;
      T s = 0, sp = 0, si = 0, spi = 0, c = 0, z = 0;
#pragma omp simd reduction(max : best) reduction(+ : s, sp, si, spi, c, z)
      for (int64_t i = b; i < e; ++i) {
        const T v = hr[i];
        const T pos = v > 0 ? v : T(0);
        const T in = mr[i] != 0 ? T(1) : T(0);
        best = v > best ? v : best;
        s += v;
        sp += pos;
        si += in * v;
        spi += in * pos;
        c += in;
        z += v * T(0);  // NaN iff some value is NaN or Inf
      }
      sum += s;
      sum_pos += sp;
      sum_in += si;
      sum_pos_in += spi;
      count += static_cast<int64_t>(c);
      nonfinite += z;
    }
    int64_t bad = 0;
    if (nonfinite != 0.0 || nonfinite != nonfinite) {
      for (int64_t i = 0; i < p; ++i) bad += !std::isfinite(hr[i]);
    }
    int64_t arg = -1;
    bool hit = false;
    for (int64_t i = 0; i < p; ++i) {
      if (hr[i] == best) {
        if (arg < 0) arg = i;
        if (mr[i] != 0) {
          hit = true;
          break;
        }
      }
    }
    double* o = out + r * kStats;
    o[0] = p > 0 ? static_cast<double>(best) : 0.0;
    o[1] = static_cast<double>(arg < 0 ? 0 : arg);
    o[2] = hit ? 1.0 : 0.0;
    o[3] = sum;
    o[4] = sum_pos;
    o[5] = sum_in;
    o[6] = sum_pos_in;
    o[7] = static_cast<double>(count);
    o[8] = static_cast<double>(bad);
  }
}

}  // namespace

FASTXAI_REGISTER(eval_heatmap_stats) {
  m.def("eval_heatmap_stats_f32", &heatmap_stats<float>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a,
        "p"_a, "Fused per-map max/argmax/hit/sums over float32 h[n,p] and uint8 mask m[n,p].");
  m.def("eval_heatmap_stats_f64", &heatmap_stats<double>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a,
        "p"_a, "Fused per-map max/argmax/hit/sums over float64 h[n,p] and uint8 mask m[n,p].");
}
