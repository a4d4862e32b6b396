// The module entry point: every op file registers itself through FASTXAI_REGISTER.
#include <omp.h>

#include "registry.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastxai CPU kernels (C++17 + OpenMP over raw contiguous buffers)";
  m.def("set_num_threads", [](int n) { omp_set_num_threads(n > 0 ? n : 1); },
        "Set the OpenMP thread count (the Python side mirrors torch.get_num_threads()).");
  m.def("get_max_threads", []() { return omp_get_max_threads(); });
  for (auto& reg : fastxai::registrars()) reg(m);
}
