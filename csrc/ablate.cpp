// Ablated-row materialisation (reference: fastxai/ops/ablate.py).
//   ablate_by_id:     out[k*N+n, e] = mask[n|0, e] == ids[k]     ? base[n|0, e] : x[n, e]
//   occlude_boxes:    out[k*N+n, e] = e inside box k             ? base[n|0, e] : x[n, e]
//   blend_coalitions: out[k*N+n, e] = z[k, n|0, mask[n|0, e]]    ? x[n, e] : base[n|0, e]
// Elements are copied by size (2, 4 or 8 bytes), so every dtype is exact.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

// Branch-free select on the raw bits (T is an unsigned integer of the element's size):
// coalitions are random, so a branch per element mispredicts half the time.
template <typename T>
inline T pick(bool take_a, T a, T b) {
  const T sel = static_cast<T>(0) - static_cast<T>(take_a);
  return static_cast<T>((a & sel) | (b & static_cast<T>(~sel)));
}

// Below this many elements a parallel region costs more than it saves (and stalls when the
// other cores are busy), so small jobs run on the calling thread.
constexpr int64_t kParallelMin = 1 << 16;

template <typename T>
void ablate_by_id_t(T* out, const T* x, const T* base, const int64_t* mask, const int64_t* ids,
                    int64_t K, int64_t N, int64_t E, bool base_per_ex, bool mask_per_ex) {
  if (!mask_per_ex) {
    // One mask for every example: list each perturbation's positions once (K·E compares),
    // then every row is a memcpy of the example plus a scatter of the few ablated elements,
    // instead of a compare-and-select per element of every row.
    std::vector<int64_t> start(K + 1, 0), pos;
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t e = 0; e < E; ++e)
        if (mask[e] == ids[k]) pos.push_back(e);
      start[k + 1] = static_cast<int64_t>(pos.size());
    }
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t n = 0; n < N; ++n) {
        const T* br = base + (base_per_ex ? n * E : 0);
        T* o = out + (k * N + n) * E;
        std::memcpy(o, x + n * E, sizeof(T) * E);
        for (int64_t i = start[k]; i < start[k + 1]; ++i) o[pos[i]] = br[pos[i]];
      }
    }
    return;
  }
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t id = ids[k];
      const T* xr = x + n * E;
      const T* br = base + (base_per_ex ? n * E : 0);
      const int64_t* mr = mask + n * E;
      T* o = out + (k * N + n) * E;
      for (int64_t e = 0; e < E; ++e) o[e] = pick<T>(mr[e] == id, br[e], xr[e]);
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
  std::vector<int64_t> stride(r, 1);
  for (int d = r - 2; d >= 0; --d) stride[d] = stride[d + 1] * shape[d + 1];
  // Each row: memcpy the example, then copy the baseline over the box (clipped to the
  // tensor; a box starting past the end is empty), one contiguous run per innermost line.
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t* st = starts + k * r;
      const T* br = base + (base_per_ex ? n * E : 0);
      T* o = out + (k * N + n) * E;
      if (r == 0) {  // a scalar per example: every (empty) box covers it
        o[0] = br[0];
        continue;
      }
      std::memcpy(o, x + n * E, sizeof(T) * E);
      int64_t lo[8], hi[8], c[8];
      bool empty = false;
      for (int d = 0; d < r; ++d) {
        lo[d] = st[d] < 0 ? 0 : st[d];
        hi[d] = st[d] + window[d] < shape[d] ? st[d] + window[d] : shape[d];
        empty = empty || lo[d] >= hi[d];
        c[d] = lo[d];
      }
      if (empty) continue;
      const int64_t run = hi[r - 1] - lo[r - 1];
      while (true) {
        int64_t off = 0;
        for (int d = 0; d < r; ++d) off += c[d] * stride[d];
        std::memcpy(o + off, br + off, sizeof(T) * run);
        int d = r - 2;  // advance the outer coordinates (row-major odometer)
        for (; d >= 0; --d) {
          if (++c[d] < hi[d]) break;
          c[d] = lo[d];
        }
        if (d < 0) break;
      }
    }
  }
}

template <typename T, typename Fill>
void for_each_blend_row(T* out, const T* x, const T* base, const uint8_t* z, int64_t K, int64_t N,
                        int64_t E, int64_t M, bool base_per_ex, bool z_per_ex, Fill fill) {
  // fill(o, zr, xr, br, n): write output row (k, n) from its coalition zr (M,), example xr and
  // baseline br (E,).
#pragma omp parallel for collapse(2) schedule(static) if (K * N * E >= kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      fill(out + (k * N + n) * E, z + (k * (z_per_ex ? N : 1) + (z_per_ex ? n : 0)) * M,
           x + n * E, base + (base_per_ex ? n * E : 0), n);
    }
  }
}

template <typename T>
void blend_coalitions_t(T* out, const T* x, const T* base, const int64_t* mask, const uint8_t* z,
                        int64_t K, int64_t N, int64_t E, int64_t M, bool base_per_ex,
                        bool mask_per_ex, bool z_per_ex) {
  if (mask_per_ex) {
    for_each_blend_row(out, x, base, z, K, N, E, M, base_per_ex, z_per_ex,
                       [&](T* o, const uint8_t* zr, const T* xr, const T* br, int64_t n) {
                         const int64_t* mr = mask + n * E;
                         for (int64_t e = 0; e < E; ++e) o[e] = pick<T>(zr[mr[e]] != 0, xr[e], br[e]);
                       });
    return;
  }
  // Feature masks are piecewise constant along a row (superpixels, patches, groups): list the
  // runs of equal id once, then each row is one memcpy per run from x or the baseline.
  std::vector<int64_t> run_start, run_id;
  for (int64_t e = 0; e < E; ++e) {
    if (e == 0 || mask[e] != mask[e - 1]) {
      run_start.push_back(e);
      run_id.push_back(mask[e]);
    }
  }
  run_start.push_back(E);
  const int64_t R = static_cast<int64_t>(run_id.size());
  if (R * 4 > E) {
    // Short runs (tabular features, scattered masks): a lookup per element beats a memcpy per run.
    for_each_blend_row(out, x, base, z, K, N, E, M, base_per_ex, z_per_ex,
                       [&](T* o, const uint8_t* zr, const T* xr, const T* br, int64_t) {
                         for (int64_t e = 0; e < E; ++e) o[e] = pick<T>(zr[mask[e]] != 0, xr[e], br[e]);
                       });
    return;
  }
  for_each_blend_row(out, x, base, z, K, N, E, M, base_per_ex, z_per_ex,
                     [&](T* o, const uint8_t* zr, const T* xr, const T* br, int64_t) {
                       for (int64_t r = 0; r < R; ++r) {
                         const int64_t e0 = run_start[r], len = run_start[r + 1] - e0;
                         std::memcpy(o + e0, (zr[run_id[r]] ? xr : br) + e0, sizeof(T) * len);
                       }
                     });
}

void blend_coalitions(std::uintptr_t out, std::uintptr_t x, std::uintptr_t base,
                      std::uintptr_t mask, std::uintptr_t z, int64_t K, int64_t N, int64_t E,
                      int64_t M, bool base_per_ex, bool mask_per_ex, bool z_per_ex,
                      int elem_size) {
  using fastxai::ptr;
  const int64_t* m = ptr<int64_t>(mask);
  const uint8_t* zz = ptr<uint8_t>(z);
  switch (elem_size) {
    case 2: return blend_coalitions_t(ptr<uint16_t>(out), ptr<uint16_t>(x), ptr<uint16_t>(base), m, zz,
                                      K, N, E, M, base_per_ex, mask_per_ex, z_per_ex);
    case 4: return blend_coalitions_t(ptr<uint32_t>(out), ptr<uint32_t>(x), ptr<uint32_t>(base), m, zz,
                                      K, N, E, M, base_per_ex, mask_per_ex, z_per_ex);
    case 8: return blend_coalitions_t(ptr<uint64_t>(out), ptr<uint64_t>(x), ptr<uint64_t>(base), m, zz,
                                      K, N, E, M, base_per_ex, mask_per_ex, z_per_ex);
    case 1: return blend_coalitions_t(ptr<uint8_t>(out), ptr<uint8_t>(x), ptr<uint8_t>(base), m, zz,
                                      K, N, E, M, base_per_ex, mask_per_ex, z_per_ex);
    default: throw std::invalid_argument("blend_coalitions: unsupported element size");
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
  m.def("blend_coalitions", &blend_coalitions, "out"_a, "x"_a, "base"_a, "mask"_a, "z"_a, "K"_a,
        "N"_a, "E"_a, "M"_a, "base_per_example"_a, "mask_per_example"_a, "z_per_example"_a,
        "elem_size"_a);
  m.def("occlude_boxes", &occlude_boxes, "out"_a, "x"_a, "base"_a, "starts"_a, "K"_a, "N"_a,
        "shape"_a, "window"_a, "base_per_example"_a, "elem_size"_a);
}
