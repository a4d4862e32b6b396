// Box annotations as clipped half-open pixel ranges: (N, B, 6) int64 [z0, z1, y0, y1, x0, x1]
// per box (2D: z = [0, 1)), from fastxai.eval.boxes.box_ranges. Kernels that take boxes
// rasterise one map's boxes into a per-thread byte row right before scoring that map.
#pragma once
#include <algorithm>
#include <cstdint>

namespace fastxai {

// Marks with 1 every pixel of ``row`` (D·H·W bytes, already zeroed) inside one of the ``nb``
// boxes at ``rg`` (6 values each); ``d``, ``hh`` and ``w`` are the map's depth, height and width.
// The Python wrappers validate the ranges; each one is clamped here as well, so no input can
// make this write outside the row.
inline void rasterise_box_ranges(uint8_t* row, const int64_t* rg, int64_t nb, int64_t d, int64_t hh, int64_t w) {
  auto clamp = [](int64_t v, int64_t hi) { return v < 0 ? int64_t(0) : (v > hi ? hi : v); };
  for (int64_t j = 0; j < nb; ++j) {
    const int64_t* b = rg + j * 6;
    const int64_t z0 = clamp(b[0], d), z1 = clamp(b[1], d), y0 = clamp(b[2], hh), y1 = clamp(b[3], hh);
    const int64_t x0 = clamp(b[4], w), x1 = clamp(b[5], w);
    if (x1 <= x0) continue;
    for (int64_t z = z0; z < z1; ++z)
      for (int64_t y = y0; y < y1; ++y)
        std::fill(row + (z * hh + y) * w + x0, row + (z * hh + y) * w + x1, uint8_t(1));
  }
}

}  // namespace fastxai
