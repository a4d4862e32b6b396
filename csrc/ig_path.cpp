// Integrated-gradients path ops over raw buffers (step-major rows, F = elements per step):
//   ig_interpolate:  out[s*F + i] = b[i] + alpha[s] * (x[i] - b[i])
//   ig_weighted_sum: for s in order: acc[i] = acc[i] + w[s] * (double)g[s*F + i]
//                    (float64 accumulator, one step at a time: the result does not depend on
//                    how the steps were split into chunks)
// Reference: fastxai.ops.ig_path.reference_ig_interpolate / reference_ig_weighted_sum.
#include <cstdint>

#include "buffer.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

template <typename T>
void interpolate(const T* x, const T* b, const double* alphas, T* out, int64_t steps, int64_t f) {
#pragma omp parallel for collapse(2) schedule(static) if (steps * f > 65536)
  for (int64_t s = 0; s < steps; ++s) {
    for (int64_t i = 0; i < f; ++i) {
      const T a = static_cast<T>(alphas[s]);
      out[s * f + i] = b[i] + a * (x[i] - b[i]);
    }
  }
}

template <typename T>
void weighted_sum(const T* g, const double* w, double* acc, int64_t steps, int64_t f) {
#pragma omp parallel for schedule(static) if (steps * f > 65536)
  for (int64_t i = 0; i < f; ++i) {
    double a = acc[i];
    for (int64_t s = 0; s < steps; ++s) a = a + w[s] * static_cast<double>(g[s * f + i]);
    acc[i] = a;
  }
}

void ig_interpolate(std::uintptr_t x, std::uintptr_t b, std::uintptr_t alphas, std::uintptr_t out,
                    int64_t steps, int64_t f, bool is_double) {
  const double* a = fastxai::ptr<const double>(alphas);
  if (is_double) {
    interpolate(fastxai::ptr<const double>(x), fastxai::ptr<const double>(b), a,
                fastxai::ptr<double>(out), steps, f);
  } else {
    interpolate(fastxai::ptr<const float>(x), fastxai::ptr<const float>(b), a,
                fastxai::ptr<float>(out), steps, f);
  }
}

void ig_weighted_sum(std::uintptr_t g, std::uintptr_t w, std::uintptr_t acc, int64_t steps,
                     int64_t f, bool is_double) {
  const double* wp = fastxai::ptr<const double>(w);
  if (is_double) {
    weighted_sum(fastxai::ptr<const double>(g), wp, fastxai::ptr<double>(acc), steps, f);
  } else {
    weighted_sum(fastxai::ptr<const float>(g), wp, fastxai::ptr<double>(acc), steps, f);
  }
}

}  // namespace

FASTXAI_REGISTER(ig_path) {
  m.def("ig_interpolate", &ig_interpolate, "x"_a, "b"_a, "alphas"_a, "out"_a, "steps"_a, "f"_a,
        "is_double"_a, "out[s*F+i] = b[i] + alphas[s]*(x[i]-b[i]) (alphas float64).");
  m.def("ig_weighted_sum", &ig_weighted_sum, "g"_a, "w"_a, "acc"_a, "steps"_a, "f"_a,
        "is_double"_a, "acc[i] += sum_s w[s]*g[s*F+i] (w float64).");
}
