// Box annotations as clipped half-open pixel ranges: (N, B, 6) int64 [z0, z1, y0, y1, x0, x1]
// per box (2D: z = [0, 1)), from fastxai.eval.boxes.box_ranges. Kernels that take boxes
// rasterise one map's boxes into a per-thread byte row right before scoring that map.
#pragma once
#include <algorithm>
#include <cstdint>

namespace fastxai {

// Marks with 1 every pixel of ``row`` (D·H·W bytes, already zeroed) inside one of the ``nb``
// boxes at ``rg`` (6 values each); ``hh`` and ``w`` are the map's height and width.
inline void rasterise_box_ranges(uint8_t* row, const int64_t* rg, int64_t nb, int64_t hh, int64_t w) {
  for (int64_t j = 0; j < nb; ++j) {
    const int64_t* b = rg + j * 6;
    if (b[5] <= b[4]) continue;
    for (int64_t z = b[0]; z < b[1]; ++z)
      for (int64_t y = b[2]; y < b[3]; ++y)
        std::fill(row + (z * hh + y) * w + b[4], row + (z * hh + y) * w + b[5], uint8_t(1));
  }
}

}  // namespace fastxai
