// Ablated-row materialisation (reference: fastxai/ops/ablate.py).
//   ablate_by_id:  out[k*N+n, e] = mask[n|0, e] == ids[k] ? base[n|0, e] : x[n, e]
//   occlude_boxes: out[k*N+n, e] = e inside box k        ? base[n|0, e] : x[n, e]
// Elements are copied by size (2, 4 or 8 bytes), so every dtype is exact.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

// Below this many elements a parallel region costs more than it saves (and stalls when the
// other cores are busy), so small jobs run on the calling thread.
constexpr int64_t kParallelMin = 1 << 16;

template <typename T>
void ablate_by_id_t(T* out, const T* x, const T* base, const int64_t* mask, const int64_t* ids,
                    int64_t K, int64_t N, int64_t E, bool base_per_ex, bool mask_per_ex) {
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t id = ids[k];
      const T* xr = x + n * E;
      const T* br = base + (base_per_ex ? n * E : 0);
      const int64_t* mr = mask + (mask_per_ex ? n * E : 0);
      T* o = out + (k * N + n) * E;
      for (int64_t e = 0; e < E; ++e) o[e] = (mr[e] == id) ? br[e] : xr[e];
    }
  }
}

template <typename T>
void occlude_boxes_t(T* out, const T* x, const T* base, const int64_t* starts, int64_t K,
                     int64_t N, const std::vector<int64_t>& shape,
                     const std::vector<int64_t>& window, bool base_per_ex) {
  const int r = static_cast<int>(shape.size());
  int64_t E = 1;
  for (auto s : shape) E *= s;
  // Box test per element: decompose e into coordinates once per row (cheap next to the copy).
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t* st = starts + k * r;
      const T* xr = x + n * E;
      const T* br = base + (base_per_ex ? n * E : 0);
      T* o = out + (k * N + n) * E;
      int64_t coord[8] = {0};
      for (int64_t e = 0; e < E; ++e) {
        bool inside = true;
        for (int d = 0; d < r; ++d) {
          const int64_t c = coord[d];
          inside = inside && c >= st[d] && c < st[d] + window[d];
        }
        o[e] = inside ? br[e] : xr[e];
        for (int d = r - 1; d >= 0; --d) {  // advance the row-major coordinate
          if (++coord[d] < shape[d]) break;
          coord[d] = 0;
        }
      }
    }
  }
}

void ablate_by_id(std::uintptr_t out, std::uintptr_t x, std::uintptr_t base, std::uintptr_t mask,
                  std::uintptr_t ids, int64_t K, int64_t N, int64_t E, bool base_per_ex,
                  bool mask_per_ex, int elem_size) {
  using fastxai::ptr;
  switch (elem_size) {
    case 2: return ablate_by_id_t(ptr<uint16_t>(out), ptr<uint16_t>(x), ptr<uint16_t>(base),
                                  ptr<int64_t>(mask), ptr<int64_t>(ids), K, N, E, base_per_ex, mask_per_ex);
    case 4: return ablate_by_id_t(ptr<uint32_t>(out), ptr<uint32_t>(x), ptr<uint32_t>(base),
                                  ptr<int64_t>(mask), ptr<int64_t>(ids), K, N, E, base_per_ex, mask_per_ex);
    case 8: return ablate_by_id_t(ptr<uint64_t>(out), ptr<uint64_t>(x), ptr<uint64_t>(base),
                                  ptr<int64_t>(mask), ptr<int64_t>(ids), K, N, E, base_per_ex, mask_per_ex);
    case 1: return ablate_by_id_t(ptr<uint8_t>(out), ptr<uint8_t>(x), ptr<uint8_t>(base),
                                  ptr<int64_t>(mask), ptr<int64_t>(ids), K, N, E, base_per_ex, mask_per_ex);
    default: throw std::invalid_argument("ablate_by_id: unsupported element size");
  }
}

void occlude_boxes(std::uintptr_t out, std::uintptr_t x, std::uintptr_t base, std::uintptr_t starts,
                   int64_t K, int64_t N, std::vector<int64_t> shape, std::vector<int64_t> window,
                   bool base_per_ex, int elem_size) {
  using fastxai::ptr;
  if (shape.size() > 8) throw std::invalid_argument("occlude_boxes: at most 8 non-batch dims");
  switch (elem_size) {
    case 2: return occlude_boxes_t(ptr<uint16_t>(out), ptr<uint16_t>(x), ptr<uint16_t>(base),
                                   ptr<int64_t>(starts), K, N, shape, window, base_per_ex);
    case 4: return occlude_boxes_t(ptr<uint32_t>(out), ptr<uint32_t>(x), ptr<uint32_t>(base),
                                   ptr<int64_t>(starts), K, N, shape, window, base_per_ex);
    case 8: return occlude_boxes_t(ptr<uint64_t>(out), ptr<uint64_t>(x), ptr<uint64_t>(base),
                                   ptr<int64_t>(starts), K, N, shape, window, base_per_ex);
    case 1: return occlude_boxes_t(ptr<uint8_t>(out), ptr<uint8_t>(x), ptr<uint8_t>(base),
                                   ptr<int64_t>(starts), K, N, shape, window, base_per_ex);
    default: throw std::invalid_argument("occlude_boxes: unsupported element size");
  }
}

}  // namespace

FASTXAI_REGISTER(ablate) {
  m.def("ablate_by_id", &ablate_by_id, "out"_a, "x"_a, "base"_a, "mask"_a, "ids"_a, "K"_a, "N"_a,
        "E"_a, "base_per_example"_a, "mask_per_example"_a, "elem_size"_a);
  m.def("occlude_boxes", &occlude_boxes, "out"_a, "x"_a, "base"_a, "starts"_a, "K"_a, "N"_a,
        "shape"_a, "window"_a, "base_per_example"_a, "elem_size"_a);
}
