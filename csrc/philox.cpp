// Fill a float32 buffer with counter-based uniforms:
//   out[i] = U(seed; c0 = offset + i, c1, c2, c3)
// The same draws as kernels/philox.py (Triton) and fastxai.ops.philox.reference_philox_uniform.
#include <cstdint>

#include "buffer.h"
#include "philox.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

void philox_uniform_fill(std::uintptr_t out_ptr, int64_t n, uint64_t seed, int64_t offset,
                         uint32_t c1, uint32_t c2, uint32_t c3) {
  float* out = fastxai::ptr<float>(out_ptr);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    out[i] = fastxai::philox_uniform(seed, static_cast<uint32_t>(offset + i), c1, c2, c3);
  }
}

}  // namespace

FASTXAI_REGISTER(philox) {
  m.def("philox_uniform_fill", &philox_uniform_fill, "out_ptr"_a, "n"_a, "seed"_a, "offset"_a,
        "c1"_a, "c2"_a, "c3"_a,
        "Fill float32 out[n] with Philox-4x32-10 uniforms for counters (offset+i, c1, c2, c3).");
}
