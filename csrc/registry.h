// One registration hook per op file, so adding a kernel never touches bindings.cpp.
// Each op file defines a static FASTXAI_REGISTER(name) { m.def(...); } block.
#pragma once
#include <functional>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace fastxai {

using Registrar = std::function<void(pybind11::module_&)>;

inline std::vector<Registrar>& registrars() {
  static std::vector<Registrar> all;
  return all;
}

struct AutoRegister {
  explicit AutoRegister(Registrar r) { registrars().push_back(std::move(r)); }
};

}  // namespace fastxai

#define FASTXAI_CONCAT_INNER(a, b) a##b
#define FASTXAI_CONCAT(a, b) FASTXAI_CONCAT_INNER(a, b)
#define FASTXAI_REGISTER(name)                                                       \
  static void FASTXAI_CONCAT(fastxai_register_, name)(pybind11::module_ & m);        \
  static ::fastxai::AutoRegister FASTXAI_CONCAT(fastxai_autoreg_, name)(             \
      FASTXAI_CONCAT(fastxai_register_, name));                                      \
  static void FASTXAI_CONCAT(fastxai_register_, name)(pybind11::module_ & m)
