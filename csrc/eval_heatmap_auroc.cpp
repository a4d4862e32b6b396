// Heat-map AUROC per map (heat map as a pixel classifier of the mask), ties counted 1/2:
//   auc[n] = (Σ_{i in mask} avg_rank(h_i) - npos (npos + 1) / 2) / (npos * nneg)
// float32 values are mapped to order-preserving uint32 keys (-0.0 folded into +0.0), all keys
// and the positives' keys are LSD-radix sorted (4 x 8-bit passes), then one merge walk counts,
// for each positive, the values below it and equal to it. NaN where npos == 0 or nneg == 0.
// Same result as fastxai.ops.eval_heatmap_auroc.reference_heatmap_auroc (finite inputs).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

inline uint32_t order_key(float v) {
  if (v == 0.0f) v = 0.0f;  // -0.0 == +0.0
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

void radix_sort(std::vector<uint32_t>& a, std::vector<uint32_t>& tmp, size_t n) {
  size_t count[256];
  for (int shift = 0; shift < 32; shift += 8) {
    std::memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; ++i) ++count[(a[i] >> shift) & 0xFF];
    size_t sum = 0;
    for (size_t& c : count) {
      const size_t c0 = c;
      c = sum;
      sum += c0;
    }
    for (size_t i = 0; i < n; ++i) tmp[count[(a[i] >> shift) & 0xFF]++] = a[i];
    a.swap(tmp);
  }
}

void heatmap_auroc(std::uintptr_t h_ptr, std::uintptr_t m_ptr, std::uintptr_t out_ptr, int64_t n, int64_t p) {
  const float* h = fastxai::ptr<const float>(h_ptr);
  const uint8_t* m = fastxai::ptr<const uint8_t>(m_ptr);
  double* out = fastxai::ptr<double>(out_ptr);
#pragma omp parallel
  {
    std::vector<uint32_t> all(static_cast<size_t>(p)), pos(static_cast<size_t>(p)), tmp(static_cast<size_t>(p));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const float* hr = h + r * p;
      const uint8_t* mr = m + r * p;
      size_t npos = 0;
      for (int64_t i = 0; i < p; ++i) {
        const uint32_t k = order_key(hr[i]);
        all[static_cast<size_t>(i)] = k;
        if (mr[i] != 0) pos[npos++] = k;
      }
      const size_t nneg = static_cast<size_t>(p) - npos;
      if (npos == 0 || nneg == 0) {
        out[r] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      radix_sort(all, tmp, static_cast<size_t>(p));
      radix_sort(pos, tmp, npos);
      // walk: for each distinct positive key, below = #all < key, equal = #all == key
      double rank_sum = 0;
      size_t j = 0;
      for (size_t i = 0; i < npos;) {
        const uint32_t key = pos[i];
        size_t same = 0;
        while (i < npos && pos[i] == key) {
          ++same;
          ++i;
        }
        while (j < static_cast<size_t>(p) && all[j] < key) ++j;
        size_t e = j;
        while (e < static_cast<size_t>(p) && all[e] == key) ++e;
        const double avg_rank = static_cast<double>(j) + (static_cast<double>(e - j) + 1.0) / 2.0;
        rank_sum += avg_rank * static_cast<double>(same);
        j = e;
      }
      const double np_ = static_cast<double>(npos), nn = static_cast<double>(nneg);
      out[r] = (rank_sum - np_ * (np_ + 1.0) / 2.0) / (np_ * nn);
    }
  }
}

}  // namespace

FASTXAI_REGISTER(eval_heatmap_auroc) {
  m.def("eval_heatmap_auroc_f32", &heatmap_auroc, "h_ptr"_a, "m_ptr"_a, "out_ptr"_a, "n"_a, "p"_a,
        "float64 out[n] = AUROC of float32 h[n,p] as a classifier of uint8 mask m[n,p] (ties 1/2).");
}
