// Philox-4x32-10, the same function as Triton's tl.rand / tl.randint4x and
// fastxai.ops.philox.reference_philox_uniform: key = (seed lo, seed hi),
// counter = (c0, c1, c2, c3). Uniform floats use Triton's uint_to_uniform_float.
#pragma once
#include <cstdint>

namespace fastxai {

inline uint32_t umulhi32(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

inline void philox4x32_10(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3,
                          uint32_t k0, uint32_t k1) {
  const uint32_t KEY_A = 0x9E3779B9u, KEY_B = 0xBB67AE85u;
  const uint32_t ROUND_A = 0xD2511F53u, ROUND_B = 0xCD9E8D57u;
  for (int r = 0; r < 10; ++r) {
    uint32_t _c0 = c0, _c2 = c2;
    c0 = umulhi32(ROUND_B, _c2) ^ c1 ^ k0;
    c2 = umulhi32(ROUND_A, _c0) ^ c3 ^ k1;
    c1 = ROUND_B * _c2;
    c3 = ROUND_A * _c0;
    k0 += KEY_A;
    k1 += KEY_B;
  }
}

// First output word of Philox as a float in [0, 1), exactly as Triton converts it.
inline float philox_uniform(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2,
                            uint32_t c3) {
  philox4x32_10(c0, c1, c2, c3, static_cast<uint32_t>(seed & 0xffffffffu),
                static_cast<uint32_t>(seed >> 32));
  int32_t x = static_cast<int32_t>(c0);
  if (x < 0) x = ~x;  // == -x - 1 with wrap-around, as Triton computes it
  return static_cast<float>(x) * 4.6566127342e-10f;
}

}  // namespace fastxai
