// RISE masks from a seed (reference: fastxai/ops/rise_masks.py; same float32 op order).
#include <cmath>
#include <cstdint>
#include <vector>

#include "buffer.h"
#include "philox.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

struct Axis {
  std::vector<int64_t> i0, i1;
  std::vector<float> l0, l1;
};

Axis axis_weights(int64_t size, int64_t g, int64_t shift) {
  Axis a;
  const int64_t cell = (size + g - 1) / g;
  const int64_t up = (g + 1) * cell;
  const float scale = static_cast<float>(g) / static_cast<float>(up);
  for (int64_t i = 0; i < size; ++i) {
    float src = (static_cast<float>(i + shift) + 0.5f) * scale - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = static_cast<int64_t>(src);
    const int64_t i1 = i0 + 1 < g ? i0 + 1 : g - 1;
    const float l1 = src - static_cast<float>(i0);
    a.i0.push_back(i0);
    a.i1.push_back(i1);
    a.l1.push_back(l1);
    a.l0.push_back(1.0f - l1);
  }
  return a;
}

void rise_masks(std::uintptr_t out_ptr, uint64_t seed, int64_t p0, int64_t K,
                std::vector<int64_t> s, std::vector<int64_t> g, double p_keep_d) {
  float* out = fastxai::ptr<float>(out_ptr);
  const float p_keep = static_cast<float>(p_keep_d);
  const int64_t ncell = g[0] * g[1] * g[2];
  const int64_t plane = s[0] * s[1] * s[2];
#pragma omp parallel for schedule(dynamic, 1) if (K * plane >= (1 << 16))
  for (int64_t k = 0; k < K; ++k) {
    const uint32_t p = static_cast<uint32_t>(p0 + k);
    std::vector<float> grid(ncell);
    for (int64_t c = 0; c < ncell; ++c)
      grid[c] = fastxai::philox_uniform(seed, static_cast<uint32_t>(c), p, 0, 0) < p_keep ? 1.0f : 0.0f;
    Axis ax[3];
    for (int d = 0; d < 3; ++d) {
      const int64_t cell = (s[d] + g[d] - 1) / g[d];
      const float u = fastxai::philox_uniform(seed, static_cast<uint32_t>(d), p, 0, 1);
      const int64_t shift = static_cast<int64_t>(u * static_cast<float>(cell));
      ax[d] = axis_weights(s[d], g[d], shift);
    }
    float* o = out + k * plane;
    auto G = [&](int64_t z, int64_t y, int64_t x) { return grid[(z * g[1] + y) * g[2] + x]; };
    for (int64_t z = 0; z < s[0]; ++z) {
      const int64_t z0 = ax[0].i0[z], z1 = ax[0].i1[z];
      const float lz0 = ax[0].l0[z], lz1 = ax[0].l1[z];
      for (int64_t y = 0; y < s[1]; ++y) {
        const int64_t y0 = ax[1].i0[y], y1 = ax[1].i1[y];
        const float ly0 = ax[1].l0[y], ly1 = ax[1].l1[y];
        for (int64_t x = 0; x < s[2]; ++x) {
          const int64_t x0 = ax[2].i0[x], x1 = ax[2].i1[x];
          const float lx0 = ax[2].l0[x], lx1 = ax[2].l1[x];
          const float a0 = lx0 * G(z0, y0, x0) + lx1 * G(z0, y0, x1);
          const float b0 = lx0 * G(z0, y1, x0) + lx1 * G(z0, y1, x1);
          const float plane0 = ly0 * a0 + ly1 * b0;
          const float a1 = lx0 * G(z1, y0, x0) + lx1 * G(z1, y0, x1);
          const float b1 = lx0 * G(z1, y1, x0) + lx1 * G(z1, y1, x1);
          const float plane1 = ly0 * a1 + ly1 * b1;
          o[(z * s[1] + y) * s[2] + x] = lz0 * plane0 + lz1 * plane1;
        }
      }
    }
  }
}

}  // namespace

FASTXAI_REGISTER(rise_masks) {
  m.def("rise_masks", &rise_masks, "out"_a, "seed"_a, "p0"_a, "K"_a, "spatial3"_a, "grid3"_a,
        "p_keep"_a, "Write K RISE masks (float32, spatial shape padded to 3D) from a seed.");
}
