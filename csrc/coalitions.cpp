// Seeded coalition materialisation for the sampling methods (KernelShap, Lime, Shapley sampling).
//   keys[r, j] = U(seed; c0 = j, c1 = samples[r], c2 = examples[r], c3 = stream)
//   mask[r, j] = keys[r, j] < thr[r]
// Same draws as kernels/coalitions.py (Triton) and fastxai.ops.coalitions.reference_coalition_keys.
#include <cstdint>

#include "buffer.h"
#include "philox.h"
#include "registry.h"
#include "simd_clones.h"

using namespace pybind11::literals;

namespace {

// One row of keys / masks; the clones are per row (not per OpenMP region) so that the
// vectorised body is the one the outlined parallel loop calls.
FASTXAI_SIMD_CLONES
void keys_row(float* row, int64_t n_features, uint64_t seed, uint32_t s, uint32_t e, uint32_t stream) {
  for (int64_t j = 0; j < n_features; ++j)
    row[j] = fastxai::philox_uniform(seed, static_cast<uint32_t>(j), s, e, stream);
}

FASTXAI_SIMD_CLONES
void mask_row(uint8_t* row, int64_t n_features, uint64_t seed, uint32_t s, uint32_t e, uint32_t stream,
              float t) {
  for (int64_t j = 0; j < n_features; ++j)
    row[j] = fastxai::philox_uniform(seed, static_cast<uint32_t>(j), s, e, stream) < t ? 1 : 0;
}

void coalition_keys_fill(std::uintptr_t out_ptr, int64_t rows, int64_t n_features, uint64_t seed,
                         std::uintptr_t samples_ptr, std::uintptr_t examples_ptr, uint32_t stream) {
  float* out = fastxai::ptr<float>(out_ptr);
  const int64_t* samples = fastxai::ptr<const int64_t>(samples_ptr);
  const int64_t* examples = fastxai::ptr<const int64_t>(examples_ptr);
#pragma omp parallel for schedule(static) if (rows * n_features > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t s = static_cast<uint32_t>(samples[r]);
    const uint32_t e = static_cast<uint32_t>(examples[r]);
    keys_row(out + r * n_features, n_features, seed, s, e, stream);
  }
}

void coalition_mask_fill(std::uintptr_t out_ptr, int64_t rows, int64_t n_features, uint64_t seed,
                         std::uintptr_t samples_ptr, std::uintptr_t examples_ptr, uint32_t stream,
                         std::uintptr_t thr_ptr) {
  uint8_t* out = fastxai::ptr<uint8_t>(out_ptr);
  const int64_t* samples = fastxai::ptr<const int64_t>(samples_ptr);
  const int64_t* examples = fastxai::ptr<const int64_t>(examples_ptr);
  const float* thr = fastxai::ptr<const float>(thr_ptr);
#pragma omp parallel for schedule(static) if (rows * n_features > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t s = static_cast<uint32_t>(samples[r]);
    const uint32_t e = static_cast<uint32_t>(examples[r]);
    mask_row(out + r * n_features, n_features, seed, s, e, stream, thr[r]);
  }
}

}  // namespace

FASTXAI_REGISTER(coalitions) {
  m.def("coalition_keys_fill", &coalition_keys_fill, "out_ptr"_a, "rows"_a, "n_features"_a,
        "seed"_a, "samples_ptr"_a, "examples_ptr"_a, "stream"_a,
        "float32 out[r, j] = U(seed; j, samples[r], examples[r], stream).");
  m.def("coalition_mask_fill", &coalition_mask_fill, "out_ptr"_a, "rows"_a, "n_features"_a,
        "seed"_a, "samples_ptr"_a, "examples_ptr"_a, "stream"_a, "thr_ptr"_a,
        "uint8 out[r, j] = U(seed; j, samples[r], examples[r], stream) < thr[r].");
}
