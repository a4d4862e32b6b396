// Binarised-heat-map overlap counts at many thresholds in one pass per map:
//   pred[n, j]  = |{i : v(h[n, i]) > thr[j]}|            (">=" when strict is false)
//   inter[n, j] = |{i : v(h[n, i]) > thr[j] and m[n, i]}|
//   msum[n]     = |{i : m[n, i]}|
// with v(x) = x (normalise 0) or v(x) = (double(x) - min_n) / (max_n - min_n) (normalise 1), the
// float64 expression of torch's (h - h.amin()) / (h - h.amin()).amax() (max(x - min) = max(x) - min
// because rounding is monotone; a constant map gives 0/0 = NaN and a map holding a NaN is NaN
// everywhere: no pixel passes). thr[0:T] is sorted ascending, NaN-free (for maps without
// normalisation the caller rounds it to the map's dtype: torch compares h > t in that dtype).
// Min-max rows are not divided pixel by pixel: v is monotone on [min, max], so "v(x) > t" holds
// exactly for x >= a cut found per threshold by bisection over the float's bits, evaluating the
// very same float64 expression (see minmax_cut); decisions are bit-identical to the division.
// Rows holding an infinite value (where that argument fails) divide per pixel instead.
// Per pixel c = the number of thresholds passed (T <= 128 with AVX-512, <= 64 otherwise: a count
// vectorised over pixels, four thresholds per sweep, faster at these sizes; larger T: a
// branch-free binary search, O(log T)) selects one histogram bin (c, inside); suffix sums turn the
// histogram into the counts: O(P log T + T) per map, not a mask per threshold. The histogram pass
// is built for AVX-512 / AVX2 / baseline (picked at load time, x86-64 Linux + GCC). Maps run in
// parallel (OpenMP) when there is enough work.
// Same results as fastxai.ops.eval_overlap_thresholds.reference_overlap_thresholds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "box_ranges.h"
#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

// x86-64 Linux + GCC: the histogram pass is compiled for AVX-512, AVX2 and baseline and the
// loader picks one (ifunc); elsewhere one baseline build.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define FASTXAI_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTXAI_CLONES
#endif

namespace {

constexpr int64_t kBlock = 256;
constexpr int64_t kParallelMin = 1 << 15;  // pixels x thresholds below which one thread does it all

// Power of two S > t, S >= 4: the searches read tab[0 : S] (entries past t are NaN).
inline int64_t search_size(int64_t t) {
  int64_t s = 4;  // >= 4: the linear count reads thresholds four at a time
  while (s <= t) s <<= 1;
  return s;
}

// Up to this many thresholds the vectorised count beats the binary search (measured on a Xeon:
// crossover ~128 with AVX-512, ~64 with the SSE2 baseline).
inline int64_t linear_max() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const int64_t k = __builtin_cpu_supports("avx512f") ? 128 : 64;
  return k;
#else
  return 64;
#endif
}

// Order-preserving integer key of a float (bits b: b >= 0 unchanged, b < 0 low bits flipped) and back.
template <typename T>
inline int64_t float_key(T x) {
  if constexpr (sizeof(T) == 4) {
    int32_t b;
    std::memcpy(&b, &x, 4);
    return static_cast<int64_t>(b ^ ((b >> 31) & 0x7fffffff));
  } else {
    int64_t b;
    std::memcpy(&b, &x, 8);
    return b ^ ((b >> 63) & 0x7fffffffffffffffLL);
  }
}

template <typename T>
inline T key_float(int64_t k) {
  T x;
  if constexpr (sizeof(T) == 4) {
    const int32_t k32 = static_cast<int32_t>(k);
    const int32_t b = k32 ^ ((k32 >> 31) & 0x7fffffff);
    std::memcpy(&x, &b, 4);
  } else {
    const int64_t b = k ^ ((k >> 63) & 0x7fffffffffffffffLL);
    std::memcpy(&x, &b, 8);
  }
  return x;
}

// Min-max normalisation as a cut in the map's own dtype: with finite lo, finite scale > 0 the map
// x -> (double(x) - lo) / scale is monotone non-decreasing on [mn, mx] (each rounded step is), so
// "v(x) > t" (or >=) holds exactly for x >= the smallest passing x in [mn, mx]. That x is found by
// bisection over the order-preserving keys (<= 64 evaluations of the same float64 expression), so
// each pixel's decision is identical to computing v(x) and comparing it. Returns NaN (never
// passed) when no value of [mn, mx] passes.
template <typename T, bool Strict>
T minmax_cut(T mn, T mx, double lo, double scale, double t) {
  auto pass = [&](T x) {
    const double v = (static_cast<double>(x) - lo) / scale;
    return Strict ? v > t : v >= t;
  };
  if (!pass(mx)) return std::numeric_limits<T>::quiet_NaN();
  if (pass(mn)) return mn;
  int64_t bad = float_key(mn), good = float_key(mx);  // pass(bad) false, pass(good) true
  for (;;) {
    const uint64_t gap = static_cast<uint64_t>(good) - static_cast<uint64_t>(bad);  // no int64 overflow
    if (gap <= 1) break;
    const int64_t mid = static_cast<int64_t>(static_cast<uint64_t>(bad) + gap / 2);
    if (pass(key_float<T>(mid))) good = mid;
    else bad = mid;
  }
  return key_float<T>(good);
}

// Histogram of (thresholds passed, inside mask) over one row. Per block of pixels the bin
// 2 c + inside is computed first (c = number of tab[j] < x, or <= x when not Strict): a count over
// the T values for small T (vectorised over pixels), else a branch-free binary search with
// power-of-two steps over tab padded with NaN to S - 1 entries (NaN is never passed); then the
// bins are counted, in 4 interleaved histograms so that runs of one bin do not serialise.
template <typename T, typename V, bool Strict, bool Direct>
FASTXAI_CLONES void row_histogram(const T* hr, const uint8_t* mr, int64_t p, const V* tab, int64_t t, int64_t s,
                                  double lo, double scale, bool linear, int64_t* hist) {
  const int64_t stride = 2 * (t + 1);
  alignas(64) uint32_t bin[kBlock];
  alignas(64) V vbuf[kBlock];
  for (int64_t b = 0; b < p; b += kBlock) {
    const int64_t e = std::min(p - b, kBlock);
    const uint8_t* mb = mr + b;
    const V* v;
    if constexpr (Direct) {  // the min-max expression per pixel (rows holding an infinite value)
      for (int64_t i = 0; i < e; ++i) vbuf[i] = (static_cast<double>(hr[b + i]) - lo) / scale;
      v = vbuf;
    } else {
      v = hr + b;
    }
    for (int64_t i = 0; i < e; ++i) bin[i] = mb[i] != 0;
    if (linear) {
      // pixels in the inner loop (vectorised compare + add), four thresholds per sweep; the NaN
      // padding of tab to a multiple of 4 is never passed
      for (int64_t j = 0; j < t; j += 4) {
        const V a0 = tab[j], a1 = tab[j + 1], a2 = tab[j + 2], a3 = tab[j + 3];
        for (int64_t i = 0; i < e; ++i) {
          const V x = v[i];
          const uint32_t c = Strict ? (a0 < x) + (a1 < x) + (a2 < x) + (a3 < x)
                                    : (a0 <= x) + (a1 <= x) + (a2 <= x) + (a3 <= x);
          bin[i] += 2 * c;
        }
      }
    } else {
      for (int64_t i = 0; i < e; ++i) {
        const V x = v[i];
        int64_t pos = 0;
        for (int64_t step = s / 2; step > 0; step >>= 1) {
          const V a = tab[pos + step - 1];
          pos += (Strict ? (a < x) : (a <= x)) ? step : 0;
        }
        bin[i] += static_cast<uint32_t>(2 * pos);
      }
    }
    int64_t i = 0;
    for (; i + 4 <= e; i += 4) {
      ++hist[bin[i]];
      ++hist[stride + bin[i + 1]];
      ++hist[2 * stride + bin[i + 2]];
      ++hist[3 * stride + bin[i + 3]];
    }
    for (; i < e; ++i) ++hist[bin[i]];
  }
}

// Min and max of a row (NaN ignored) and z = Σ x·0, NaN iff some value is NaN or infinite.
template <typename T>
FASTXAI_CLONES void row_minmax(const T* hr, int64_t p, T* mn_out, T* mx_out, T* z_out) {
  T mn = std::numeric_limits<T>::infinity(), mx = -std::numeric_limits<T>::infinity(), z = 0;
#pragma omp simd reduction(min : mn) reduction(max : mx) reduction(+ : z)
  for (int64_t i = 0; i < p; ++i) {
    const T x = hr[i];
    mn = x < mn ? x : mn;
    mx = x > mx ? x : mx;
    z += x * T(0);
  }
  *mn_out = mn;
  *mx_out = mx;
  *z_out = z;
}

// One row: cuts (or thresholds) -> histogram -> suffix sums into pred / inter.
template <typename T, bool Strict>
void row_counts(const T* hr, const uint8_t* mr, int64_t p, const double* thr, int64_t t, int normalise,
                std::vector<int64_t>& hist, std::vector<T>& cuts, int64_t* pred, int64_t* inter, int64_t* msum) {
  const int64_t stride = 2 * (t + 1);
  const int64_t s = search_size(t);
  const bool linear = t <= linear_max();
  std::fill(hist.begin(), hist.end(), int64_t(0));
  std::fill(cuts.begin(), cuts.end(), std::numeric_limits<T>::quiet_NaN());
  bool skip = t == 0 || p == 0;  // nothing can pass
  bool direct = false;           // min-max rows with infinite values: the float64 expression per pixel
  double lo = 0.0, scale = 1.0;
  if (normalise == 1 && !skip) {
    T mn, mx, z;
    row_minmax<T>(hr, p, &mn, &mx, &z);
    bool nan = false;
    if (z != z) {
      for (int64_t i = 0; i < p; ++i) nan |= hr[i] != hr[i];
    }
    lo = static_cast<double>(mn);
    scale = static_cast<double>(mx) - lo;  // == max over the row of (double(x) - lo): rounding is monotone
    // a NaN anywhere makes torch's amax NaN, a constant row gives 0/0: every v is NaN
    skip = nan || scale == 0.0 || scale != scale;
    direct = !skip && !(std::isfinite(lo) && std::isfinite(scale));
    if (!skip && !direct) {
      for (int64_t j = 0; j < t; ++j) cuts[j] = minmax_cut<T, Strict>(mn, mx, lo, scale, thr[j]);
    }
  } else if (!skip) {
    for (int64_t j = 0; j < t; ++j) cuts[j] = static_cast<T>(thr[j]);  // exact: already rounded to T
  }
  if (skip) {
    int64_t count = 0;
    for (int64_t i = 0; i < p; ++i) count += mr[i] != 0;
    *msum = count;
  } else {
    if (direct) {
      row_histogram<T, double, Strict, true>(hr, mr, p, thr, t, s, lo, scale, linear, hist.data());
    } else if (normalise == 1) {
      // cuts are "smallest passing x": pixel passes threshold j iff cuts[j] <= x (not strict)
      row_histogram<T, T, false, false>(hr, mr, p, cuts.data(), t, s, 0.0, 1.0, linear, hist.data());
    } else {
      row_histogram<T, T, Strict, false>(hr, mr, p, cuts.data(), t, s, 0.0, 1.0, linear, hist.data());
    }
    int64_t count = 0;  // the odd bins are the pixels inside the mask
    for (int64_t u = 0; u < 4; ++u)
      for (int64_t c = 0; c <= t; ++c) count += hist[u * stride + 2 * c + 1];
    *msum = count;
  }
  int64_t all = 0, ins = 0;
  for (int64_t j = t - 1; j >= 0; --j) {  // passing threshold j  <=>  c >= j + 1
    for (int u = 0; u < 4; ++u) {
      all += hist[u * stride + 2 * (j + 1)] + hist[u * stride + 2 * (j + 1) + 1];
      ins += hist[u * stride + 2 * (j + 1) + 1];
    }
    pred[j] = all;
    inter[j] = ins;
  }
}

template <typename T>
void row_dispatch(const T* hr, const uint8_t* mr, int64_t p, const double* thr, int64_t t, int normalise,
                  bool strict, std::vector<int64_t>& hist, std::vector<T>& cuts, int64_t* pred, int64_t* inter,
                  int64_t* msum) {
  if (strict) {
    row_counts<T, true>(hr, mr, p, thr, t, normalise, hist, cuts, pred, inter, msum);
  } else {
    row_counts<T, false>(hr, mr, p, thr, t, normalise, hist, cuts, pred, inter, msum);
  }
}

// The T thresholds padded with NaN to the binary search's size (NaN never passes).
inline std::vector<double> padded_thresholds(std::uintptr_t thr_ptr, int64_t t) {
  std::vector<double> tpad(static_cast<size_t>(search_size(t)), std::numeric_limits<double>::quiet_NaN());
  std::copy(fastxai::ptr<const double>(thr_ptr), fastxai::ptr<const double>(thr_ptr) + t, tpad.begin());
  return tpad;
}

template <typename T>
void overlap_thresholds(std::uintptr_t h_ptr, std::uintptr_t m_ptr, std::uintptr_t thr_ptr, std::uintptr_t pred_ptr,
                        std::uintptr_t inter_ptr, std::uintptr_t msum_ptr, int64_t n, int64_t p, int64_t t,
                        int64_t normalise, bool strict) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  const std::vector<double> tpad = padded_thresholds(thr_ptr, t);
  const double* thr = tpad.data();
  int64_t* pred = fastxai::ptr<int64_t>(pred_ptr);
  int64_t* inter = fastxai::ptr<int64_t>(inter_ptr);
  int64_t* msum = fastxai::ptr<int64_t>(msum_ptr);
#pragma omp parallel if (n > 1 && n * p * (t + 1) >= kParallelMin)
  {
    std::vector<int64_t> hist(static_cast<size_t>(8 * (t + 1)));
    std::vector<T> cuts(static_cast<size_t>(search_size(t)));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      row_dispatch<T>(h + r * p, m + r * p, p, thr, t, static_cast<int>(normalise), strict, hist, cuts, pred + r * t,
                      inter + r * t, msum + r);
    }
  }
}

// The same counts with the annotation as boxes: ranges (N, B, 6) int64 clipped half-open pixel
// ranges [z0, z1, y0, y1, x0, x1] (2D: z = [0, 1)), rasterised per row into a per-thread P-byte
// buffer right before the row's pass (no (N, P) mask), as in eval_heatmap_stats_boxes.
template <typename T>
void overlap_thresholds_boxes(std::uintptr_t h_ptr, std::uintptr_t ranges_ptr, std::uintptr_t thr_ptr,
                              std::uintptr_t pred_ptr, std::uintptr_t inter_ptr, std::uintptr_t msum_ptr, int64_t n,
                              int64_t nb, int64_t d, int64_t hh, int64_t w, int64_t t, int64_t normalise,
                              bool strict) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const int64_t* rg = fastxai::ptr<const int64_t>(ranges_ptr);
  const std::vector<double> tpad = padded_thresholds(thr_ptr, t);
  const double* thr = tpad.data();
  int64_t* pred = fastxai::ptr<int64_t>(pred_ptr);
  int64_t* inter = fastxai::ptr<int64_t>(inter_ptr);
  int64_t* msum = fastxai::ptr<int64_t>(msum_ptr);
  const int64_t p = d * hh * w;
#pragma omp parallel if (n > 1 && n * p * (t + 1) >= kParallelMin)
  {
    std::vector<int64_t> hist(static_cast<size_t>(8 * (t + 1)));
    std::vector<T> cuts(static_cast<size_t>(search_size(t)));
    std::vector<uint8_t> mrow(static_cast<size_t>(p) + 1, 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      std::fill(mrow.begin(), mrow.end(), uint8_t(0));
      fastxai::rasterise_box_ranges(mrow.data(), rg + r * nb * 6, nb, d, hh, w);
      row_dispatch<T>(h + r * p, mrow.data(), p, thr, t, static_cast<int>(normalise), strict, hist, cuts,
                      pred + r * t, inter + r * t, msum + r);
    }
  }
}

}  // namespace

FASTXAI_REGISTER(eval_overlap_thresholds) {
  m.def("eval_overlap_thresholds_f32", &overlap_thresholds<float>, "h_ptr"_a, "m_ptr"_a, "thr_ptr"_a, "pred_ptr"_a,
        "inter_ptr"_a, "msum_ptr"_a, "n"_a, "p"_a, "t"_a, "normalise"_a, "strict"_a,
        "int64 pred[n,t], inter[n,t], msum[n]: pixels of v(float32 h[n,p]) past each sorted float64 thr[t] "
        "(all / inside uint8 m[n,p]) and mask size; v = identity (normalise 0) or per-map min-max (1).");
  m.def("eval_overlap_thresholds_f64", &overlap_thresholds<double>, "h_ptr"_a, "m_ptr"_a, "thr_ptr"_a, "pred_ptr"_a,
        "inter_ptr"_a, "msum_ptr"_a, "n"_a, "p"_a, "t"_a, "normalise"_a, "strict"_a,
        "As eval_overlap_thresholds_f32 for float64 h.");
  m.def("eval_overlap_thresholds_boxes_f32", &overlap_thresholds_boxes<float>, "h_ptr"_a, "ranges_ptr"_a, "thr_ptr"_a,
        "pred_ptr"_a, "inter_ptr"_a, "msum_ptr"_a, "n"_a, "nb"_a, "d"_a, "h"_a, "w"_a, "t"_a, "normalise"_a,
        "strict"_a, "eval_overlap_thresholds_f32 with the annotation as (N, B, 6) int64 pixel ranges.");
  m.def("eval_overlap_thresholds_boxes_f64", &overlap_thresholds_boxes<double>, "h_ptr"_a, "ranges_ptr"_a,
        "thr_ptr"_a, "pred_ptr"_a, "inter_ptr"_a, "msum_ptr"_a, "n"_a, "nb"_a, "d"_a, "h"_a, "w"_a, "t"_a,
        "normalise"_a, "strict"_a, "eval_overlap_thresholds_f64 with the annotation as (N, B, 6) int64 pixel ranges.");
}
