// Top-k hits per heat map by selection (no full sort):
//   out[n, t] = |top-k(h[n]) ∩ mask[n]| for k = ks[n * ks_row_stride + t] (stride 0: the same T
//   values of k for every row; stride T: a (N, T) matrix, e.g. k = |mask| for rank accuracy),
// top-k rule: values > the k-th largest, then values equal to it in increasing index order.
// nth_element on a per-thread copy of the row, then one pass over the row. Same results as
// fastxai.ops.eval_topk_hits.reference_topk_hits.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

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
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const T* hr = h + r * p;
      const uint8_t* mr = m + r * p;
      std::copy(hr, hr + p, buf.begin());
      for (int64_t j = 0; j < t; ++j) {
        const int64_t k = ks[r * ks_row_stride + j];
        int64_t hits = 0;
        if (k >= p) {
          for (int64_t i = 0; i < p; ++i) hits += mr[i] != 0;
        } else if (k > 0) {
          std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), std::greater<T>());
          const T kth = buf[k - 1];
          int64_t above = 0;
          for (int64_t i = 0; i < p; ++i) above += hr[i] > kth;
          int64_t need = k - above;
          for (int64_t i = 0; i < p; ++i) {
            const T v = hr[i];
            if (v > kth) {
              hits += mr[i] != 0;
            } else if (v == kth && need > 0) {
              --need;
              hits += mr[i] != 0;
            }
          }
        }
        out[r * t + j] = hits;
      }
    }
  }
}

}  // namespace

FASTXAI_REGISTER(eval_topk_hits) {
  m.def("eval_topk_hits_f32", &topk_hits<float>, "h_ptr"_a, "m_ptr"_a, "ks_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "t"_a, "ks_row_stride"_a, "int64 out[n,t] = |top-k(h[n]) ∩ m[n]|, k = ks[n*stride+t], float32 h[n,p], uint8 m[n,p].");
  m.def("eval_topk_hits_f64", &topk_hits<double>, "h_ptr"_a, "m_ptr"_a, "ks_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "t"_a, "ks_row_stride"_a, "int64 out[n,t] = |top-k(h[n]) ∩ m[n]|, k = ks[n*stride+t], float64 h[n,p], uint8 m[n,p].");
}
