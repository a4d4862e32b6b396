// Top-k hits per heat map by selection (no full sort):
//   out[n, t] = |top-k(h[n]) ∩ mask[n]| for k = ks[n * ks_row_stride + t] (stride 0: the same T
//   values of k for every row; stride T: a (N, T) matrix, e.g. k = |mask| for rank accuracy),
// top-k rule: values > the k-th largest, then values equal to it in increasing index order.
// k-th largest by sample + filter + nth_element on the candidates (see kth_largest), then one
// branch-free pass over the row (a second one only when ties at the k-th value are split). Same results as
// fastxai.ops.eval_topk_hits.reference_topk_hits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

// The k-th largest value by "sample, filter, select": a sorted strided sample of the row gives a
// threshold t that (almost always) has at least k values >= t above it; one branch-free pass
// copies those candidates, and nth_element runs on the candidates only (~k values instead of P).
// If fewer than k values pass the filter (heavy ties, adversarial rows) the whole row is
// selected instead, so the result never depends on the sample. Returns the k-th largest and
// writes the number of values strictly greater than it to *above.
template <typename T>
T kth_largest(const T* hr, int64_t p, int64_t k, std::vector<T>& buf, std::vector<T>& sample, int64_t* above) {
  constexpr int64_t kSample = 512;
  if (p > 8 * kSample && k < p / 4) {
    const int64_t step = p / kSample;
    for (int64_t j = 0; j < kSample; ++j) sample[j] = hr[j * step];
    // expected rank of the k-th largest in the sample, plus a margin of ~4 standard deviations
    const double q = static_cast<double>(k) / static_cast<double>(p);
    const double mean = q * kSample;
    int64_t r = static_cast<int64_t>(mean + 4.0 * std::sqrt(mean * (1.0 - q)) + 8.0);
    if (r < kSample) {
      std::nth_element(sample.begin(), sample.begin() + r, sample.begin() + kSample, std::greater<T>());
      const T t = sample[r];
      int64_t c = 0;
      for (int64_t i = 0; i < p; ++i) {  // branch-free compaction of the candidates v >= t
        const T v = hr[i];
        buf[c] = v;
        c += v >= t;
      }
      if (c >= k) {
        std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.begin() + c, std::greater<T>());
        const T kth = buf[k - 1];
        int64_t a = 0;
        for (int64_t i = 0; i < c; ++i) a += buf[i] > kth;
        *above = a;
        return kth;
      }
    }
  }
  std::copy(hr, hr + p, buf.begin());
  std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.begin() + p, std::greater<T>());
  const T kth = buf[k - 1];
  int64_t a = 0;
  for (int64_t i = 0; i < p; ++i) a += hr[i] > kth;
  *above = a;
  return kth;
}

template <typename T>
void topk_hits(std::uintptr_t h_ptr, std::uintptr_t m_ptr, std::uintptr_t ks_ptr, std::uintptr_t out_ptr,
               int64_t n, int64_t p, int64_t t, int64_t ks_row_stride) {
  const T* h = fastxai::ptr<const T>(h_ptr);
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  const int64_t* ks = fastxai::ptr<const int64_t>(ks_ptr);
  int64_t* out = fastxai::ptr<int64_t>(out_ptr);
#pragma omp parallel
  {
    std::vector<T> buf(static_cast<size_t>(p));
    std::vector<T> sample(512);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const T* hr = h + r * p;
      const uint8_t* mr = m + r * p;
      for (int64_t j = 0; j < t; ++j) {
        const int64_t k = ks[r * ks_row_stride + j];
        int64_t hits = 0;
        if (k >= p) {
          for (int64_t i = 0; i < p; ++i) hits += mr[i] != 0;
        } else if (k > 0) {
          int64_t above = 0;
          const T kth = kth_largest<T>(hr, p, k, buf, sample, &above);
          const int64_t need = k - above;  // tied values taken, lowest index first
          int64_t tied = 0, hits_ge = 0;
          for (int64_t i = 0; i < p; ++i) {  // branch-free: hits among v >= kth, and the tie count
            const T v = hr[i];
            hits_ge += (v >= kth) & (mr[i] != 0);
            tied += v == kth;
          }
          if (tied == need) {
            hits = hits_ge;  // every tied value is taken
          } else {
            int64_t left = need;
            for (int64_t i = 0; i < p; ++i) {
              const T v = hr[i];
              if (v > kth) {
                hits += mr[i] != 0;
              } else if (v == kth && left > 0) {
                --left;
                hits += mr[i] != 0;
              }
            }
          }
        }
        out[r * t + j] = hits;
      }
    }
  }
}

// Mask pixel count per row: out[n] = Σ_i (m[n, i] != 0).
void mask_counts(std::uintptr_t m_ptr, std::uintptr_t out_ptr, int64_t n, int64_t p) {
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  int64_t* out = fastxai::ptr<int64_t>(out_ptr);
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* mr = m + r * p;
    int64_t c = 0;
#pragma omp simd reduction(+ : c)
    for (int64_t i = 0; i < p; ++i) c += mr[i] != 0;
    out[r] = c;
  }
}

}  // namespace

FASTXAI_REGISTER(eval_topk_hits) {
  m.def("eval_mask_counts", &mask_counts, "m_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "int64 out[n] = number of nonzero bytes in uint8 m[n,p].");
  m.def("eval_topk_hits_f32", &topk_hits<float>, "h_ptr"_a, "m_ptr"_a, "ks_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "t"_a, "ks_row_stride"_a, "int64 out[n,t] = |top-k(h[n]) ∩ m[n]|, k = ks[n*stride+t], float32 h[n,p], uint8 m[n,p].");
  m.def("eval_topk_hits_f64", &topk_hits<double>, "h_ptr"_a, "m_ptr"_a, "ks_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "t"_a, "ks_row_stride"_a, "int64 out[n,t] = |top-k(h[n]) ∩ m[n]|, k = ks[n*stride+t], float64 h[n,p], uint8 m[n,p].");
}
