// Runtime-dispatched SIMD builds of a hot loop. The extension is compiled for baseline x86-64
// (SSE2), where GCC cannot vectorise Philox's 32x32->64-bit high multiplies; an AVX2 clone
// chosen at load time (ifunc) runs the same integer arithmetic 8 lanes wide (2.6x on the
// coalition keys), bit for bit the same results. Other compilers / platforms get one build.
#pragma once
#include <cstdint>  // defines __GLIBC__ on glibc (target_clones needs its ifunc; musl has none)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define FASTXAI_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FASTXAI_SIMD_CLONES
#endif
