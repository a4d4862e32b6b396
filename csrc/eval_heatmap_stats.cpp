// Fused per-heat-map reductions for the localisation metrics:
//   out[n, :] = [max, first argmax, any tied max inside mask, sum, sum of positive part,
//                sum inside mask, positive sum inside mask, mask pixel count, non-finite count]
// over s(h[n, 0:P]) (float32 or float64; s = the sign rule: 0 signed, 1 abs, 2 positive part,
// applied on the fly so no transformed copy of the maps is made) and m[n, 0:P] (uint8, nonzero = inside).
// One streaming pass per row gives max, the sums and the mask count; it also keeps the maximum
// of every group of 1024 pixels, so the first arg-max and the tie hit only re-read the groups
// that hold the maximum (usually one) instead of the whole row.
// Sums: every value is widened to double before it is added (both paths), so finite float32 maps
// never overflow (P · FLT_MAX << DBL_MAX) and sums carry no float32 rounding; float64 maps sum in
// double (a row whose sum exceeds the float64 range gives ±inf here; the localisation metrics
// prescale such rows by a power of two). float32 rows use AVX-512 (runtime check) when the CPU has
// it, a portable loop otherwise.
// Non-finite values are detected by a sticky NaN (v*0) and then counted exactly.
// Rows run in parallel (OpenMP). Same results as fastxai.ops.eval_heatmap_stats.reference_heatmap_stats
// up to the summation rounding.
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FASTXAI_X86 1
#endif

#include "box_ranges.h"
#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

constexpr int kStats = 9;
constexpr int64_t kBlock = 64;
constexpr int64_t kGroup = 1024;

template <typename T>
inline T signed_value(T v, int sign) {
  if (sign == 1) return std::fabs(v);
  if (sign == 2) return v > T(0) ? v : T(0);
  return v;
}

// Second step shared by both paths: first arg-max and tie hit, re-reading only the groups whose
// maximum equals the row maximum; exact non-finite count when the sticky flag fired.
template <typename T>
void finish_row(const T* hr, const uint8_t* mr, int64_t p, int sign, T best, const T* gmax, bool flagged,
                double sum, double sum_pos, double sum_in, double sum_pos_in, int64_t count, double* o) {
  int64_t bad = 0;
  if (flagged) {
    for (int64_t i = 0; i < p; ++i) bad += !std::isfinite(hr[i]);
  }
  int64_t arg = -1;
  bool hit = false;
  const int64_t groups = (p + kGroup - 1) / kGroup;
  for (int64_t g = 0; g < groups && !hit; ++g) {
    if (!(gmax[g] == best) && !flagged) continue;
    const int64_t e = (g + 1) * kGroup < p ? (g + 1) * kGroup : p;
    for (int64_t i = g * kGroup; i < e; ++i) {
      if (signed_value(hr[i], sign) == best) {
        if (arg < 0) arg = i;
        if (mr[i] != 0) {
          hit = true;
          break;
        }
      }
    }
  }
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

template <typename T>
void row_portable(const T* hr, const uint8_t* mr, int64_t p, int sign, T* gmax, double* o) {
  T best = -std::numeric_limits<T>::infinity();
  double sum = 0, sum_pos = 0, sum_in = 0, sum_pos_in = 0;
  T nonfinite = 0;
  int64_t count = 0;
  for (int64_t g0 = 0; g0 < p; g0 += kGroup) {
    const int64_t ge = g0 + kGroup < p ? g0 + kGroup : p;
    T gbest = -std::numeric_limits<T>::infinity();
    for (int64_t b = g0; b < ge; b += kBlock) {
      const int64_t e = b + kBlock < ge ? b + kBlock : ge;
      double s = 0, sp = 0, si = 0, spi = 0, c = 0;
      T z = 0;
#pragma omp simd reduction(max : gbest) reduction(+ : s, sp, si, spi, c, z)
      for (int64_t i = b; i < e; ++i) {
        const T raw = hr[i];
        const T v = sign == 1 ? (raw < 0 ? -raw : raw) : (sign == 2 ? (raw > 0 ? raw : T(0)) : raw);
        const double vd = static_cast<double>(v);  // every value accumulated in double: no overflow, no
        const double pos = vd > 0 ? vd : 0.0;      // float32 rounding (finite float32 sums fit float64)
        const double in = mr[i] != 0 ? 1.0 : 0.0;
        gbest = v > gbest ? v : gbest;
        s += vd;
        sp += pos;
        si += in * vd;
        spi += in * pos;
        c += in;
        z += raw * T(0);  // NaN iff some value is NaN or Inf
      }
      sum += s;
      sum_pos += sp;
      sum_in += si;
      sum_pos_in += spi;
      count += static_cast<int64_t>(c);
      nonfinite += z;
    }
    gmax[g0 / kGroup] = gbest;
    best = gbest > best ? gbest : best;
  }
  const bool flagged = nonfinite != T(0) || nonfinite != nonfinite;
  finish_row<T>(hr, mr, p, sign, best, gmax, flagged, sum, sum_pos, sum_in, sum_pos_in, count, o);
}

#ifdef FASTXAI_X86
__attribute__((target("avx512f,avx512bw"))) inline __m512d lo_pd(__m512 x) {
  return _mm512_cvtps_pd(_mm512_castps512_ps256(x));
}
__attribute__((target("avx512f,avx512bw"))) inline __m512d hi_pd(__m512 x) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}

__attribute__((target("avx512f,avx512bw"))) void row_avx512(const float* hr, const uint8_t* mr, int64_t p,
                                                             int sign, float* gmax, double* o) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512d zero_pd = _mm512_setzero_pd();
  const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
  __m512d ds0 = _mm512_setzero_pd(), ds1 = ds0, dp0 = ds0, dp1 = ds0, di0 = ds0, di1 = ds0, dq0 = ds0, dq1 = ds0;
  __m512 z = zero;
  int64_t count = 0;
  float best = -std::numeric_limits<float>::infinity();
  double tail_s = 0, tail_p = 0, tail_i = 0, tail_q = 0;
  for (int64_t g0 = 0; g0 < p; g0 += kGroup) {
    const int64_t ge = g0 + kGroup < p ? g0 + kGroup : p;
    __m512 gm = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t b = g0;
    for (; b + kBlock <= ge; b += kBlock) {
      const __mmask64 mk = _mm512_test_epi8_mask(_mm512_loadu_si512(mr + b), _mm512_loadu_si512(mr + b));
      count += __builtin_popcountll(mk);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512 raw = _mm512_loadu_ps(hr + b + 16 * j);
        __m512 v = raw;
        if (sign == 1) v = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(raw), absmask));
        else if (sign == 2) v = _mm512_max_ps(raw, zero);
        const __mmask16 k = static_cast<__mmask16>(mk >> (16 * j));
        const __mmask8 klo = static_cast<__mmask8>(k & 0xFF), khi = static_cast<__mmask8>(k >> 8);
        gm = _mm512_max_ps(gm, v);
        // every value widened to double before it is added: no overflow, no float32 rounding
        const __m512d vlo = lo_pd(v), vhi = hi_pd(v);
        const __m512d plo = _mm512_max_pd(vlo, zero_pd), phi = _mm512_max_pd(vhi, zero_pd);
        ds0 = _mm512_add_pd(ds0, vlo);
        ds1 = _mm512_add_pd(ds1, vhi);
        dp0 = _mm512_add_pd(dp0, plo);
        dp1 = _mm512_add_pd(dp1, phi);
        di0 = _mm512_mask_add_pd(di0, klo, di0, vlo);
        di1 = _mm512_mask_add_pd(di1, khi, di1, vhi);
        dq0 = _mm512_mask_add_pd(dq0, klo, dq0, plo);
        dq1 = _mm512_mask_add_pd(dq1, khi, dq1, phi);
        z = _mm512_add_ps(z, _mm512_mul_ps(raw, zero));
      }
    }
    float gbest = _mm512_reduce_max_ps(gm);
    for (; b < ge; ++b) {  // tail of the row (< 64 values), scalar in double
      const float raw = hr[b];
      const float v = signed_value(raw, sign);
      const float pos = v > 0 ? v : 0.0f;
      gbest = v > gbest ? v : gbest;
      tail_s += v;
      tail_p += pos;
      if (mr[b] != 0) {
        tail_i += v;
        tail_q += pos;
        ++count;
      }
      z = _mm512_add_ps(z, _mm512_set1_ps(raw * 0.0f));
    }
    gmax[g0 / kGroup] = gbest;
    best = gbest > best ? gbest : best;
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(ds0, ds1)) + tail_s;
  const double sum_pos = _mm512_reduce_add_pd(_mm512_add_pd(dp0, dp1)) + tail_p;
  const double sum_in = _mm512_reduce_add_pd(_mm512_add_pd(di0, di1)) + tail_i;
  const double sum_pos_in = _mm512_reduce_add_pd(_mm512_add_pd(dq0, dq1)) + tail_q;
  const float zz = _mm512_reduce_add_ps(z);
  const bool flagged = zz != 0.0f || zz != zz;
  finish_row<float>(hr, mr, p, sign, best, gmax, flagged, sum, sum_pos, sum_in, sum_pos_in, count, o);
}

bool has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return ok;
}
#endif

template <typename T>
void heatmap_stats(std::uintptr_t h_ptr, std::uintptr_t m_ptr, std::uintptr_t out_ptr, int64_t n, int64_t p,
                   int64_t sign, bool allow_simd) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  double* out = fastxai::ptr<double>(out_ptr);
  const int s = static_cast<int>(sign);
#pragma omp parallel if (n > 1)
  {
    std::vector<T> gmax(static_cast<size_t>((p + kGroup - 1) / kGroup + 1));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const T* hr = h + r * p;
      const uint8_t* mr = m + r * p;
      double* o = out + r * kStats;
#ifdef FASTXAI_X86
      if constexpr (sizeof(T) == 4) {
        if (allow_simd && has_avx512()) {
          row_avx512(reinterpret_cast<const float*>(hr), mr, p, s, reinterpret_cast<float*>(gmax.data()), o);
          continue;
        }
      }
#endif
      row_portable<T>(hr, mr, p, s, gmax.data(), o);
    }
  }
}

// The same statistics with the annotation given as boxes: ranges (N, B, 6) int64 half-open pixel
// ranges [z0, z1, y0, y1, x0, x1] (already clipped; 2D: z = [0, 1)). Each row's mask is rasterised
// into a per-thread P-byte buffer (cache-resident) right before its pass, so no (N, P) mask exists.
template <typename T>
void heatmap_stats_boxes(std::uintptr_t h_ptr, std::uintptr_t ranges_ptr, std::uintptr_t out_ptr, int64_t n,
                         int64_t nb, int64_t d, int64_t hh, int64_t w, int64_t sign, bool allow_simd) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const int64_t* rg = fastxai::ptr<const int64_t>(ranges_ptr);
  double* out = fastxai::ptr<double>(out_ptr);
  const int64_t p = d * hh * w;
  const int s = static_cast<int>(sign);
#pragma omp parallel if (n > 1)
  {
    std::vector<T> gmax(static_cast<size_t>((p + kGroup - 1) / kGroup + 1));
    std::vector<uint8_t> mrow(static_cast<size_t>(p) + 64, 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      std::fill(mrow.begin(), mrow.end(), uint8_t(0));
      fastxai::rasterise_box_ranges(mrow.data(), rg + r * nb * 6, nb, d, hh, w);
      const T* hr = h + r * p;
      double* o = out + r * kStats;
#ifdef FASTXAI_X86
      if constexpr (sizeof(T) == 4) {
        if (allow_simd && has_avx512()) {
          row_avx512(reinterpret_cast<const float*>(hr), mrow.data(), p, s, reinterpret_cast<float*>(gmax.data()), o);
          continue;
        }
      }
#endif
      row_portable<T>(hr, mrow.data(), p, s, gmax.data(), o);
    }
  }
}

bool eval_heatmap_stats_has_simd() {
#ifdef FASTXAI_X86
  return has_avx512();
#else
  return false;
#endif
}

}  // namespace

FASTXAI_REGISTER(eval_heatmap_stats) {
  m.def("eval_heatmap_stats_f32", &heatmap_stats<float>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "sign"_a = 0, "allow_simd"_a = true,
        "Fused per-map max/argmax/hit/sums over sign(float32 h[n,p]) and uint8 mask m[n,p].");
  m.def("eval_heatmap_stats_f64", &heatmap_stats<double>, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "sign"_a = 0, "allow_simd"_a = true,
        "Fused per-map max/argmax/hit/sums over sign(float64 h[n,p]) and uint8 mask m[n,p].");
  m.def("eval_heatmap_stats_boxes_f32", &heatmap_stats_boxes<float>, "h_ptr"_a, "ranges_ptr"_a, "out_ptr"_a, "n"_a,
        "nb"_a, "d"_a, "h"_a, "w"_a, "sign"_a = 0, "allow_simd"_a = true,
        "Fused per-map statistics with box annotations given as (N, B, 6) int64 pixel ranges, float32 h.");
  m.def("eval_heatmap_stats_boxes_f64", &heatmap_stats_boxes<double>, "h_ptr"_a, "ranges_ptr"_a, "out_ptr"_a, "n"_a,
        "nb"_a, "d"_a, "h"_a, "w"_a, "sign"_a = 0, "allow_simd"_a = true,
        "Fused per-map statistics with box annotations given as (N, B, 6) int64 pixel ranges, float64 h.");
  m.def("eval_heatmap_stats_has_simd", &eval_heatmap_stats_has_simd, "True if the float32 AVX-512 row path is used.");
}
