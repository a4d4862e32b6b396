// Raw-buffer helpers: Python passes tensor.data_ptr() as an integer plus sizes.
#pragma once
#include <cstdint>

namespace fastxai {
template <typename T>
inline T* ptr(std::uintptr_t p) { return reinterpret_cast<T*>(p); }
}  // namespace fastxai
