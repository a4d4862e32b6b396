// Captum 0.9's KernelShap coalitions, drawn from the CPU generator's own stream
// (reference: the per-sample torch loop in fastxai/ops/captum_draws.py).
//
// Captum draws, per example and per sample, ``Categorical(p).sample()`` (torch.multinomial
// with one sample: argmax_j p_j / q_j, q_j ~ Exp(1) from one double = 2 words each) and
// ``torch.randn(1, M)`` (M float uniforms of 1 word, + 16 more when M % 16, Box-Muller in
// blocks of 16), keeps the k largest normals, and between examples its surrogate fit draws
// M + 3 more words. This kernel runs torch's mt19937 on a copy of the generator state
// (torch.get_rng_state()'s legacy layout) and does all of it in one pass, so no uniform is
// ever stored. Only orders matter: the exponentials are computed exactly as torch does
// (double log1p, rounded to float), the normals with libm's float functions (torch may use
// SIMD ones), and a sample whose top-2 scores or threshold pair are too close to be sure of
// is flagged for an exact re-draw by the caller, which gets each example's start state.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "buffer.h"
#include "order_stats.h"
#include "registry.h"

using namespace pybind11::literals;

namespace {

// torch.get_rng_state() on CPU: CPUGeneratorImplStateLegacy {u64 seed; i32 left; i32 seeded;
// u64 next; u64 state[624]; ...normal cache...} followed by the float normal cache.
constexpr int64_t kStateBytes = 5056;
constexpr int64_t kLeftAt = 8, kNextAt = 16, kWordsAt = 24;
constexpr int kN = 624, kM = 397;

// at::mt19937 (ATen/core/MT19937RNGEngine.h), same update and tempering.
class TorchMt19937 {
 public:
  explicit TorchMt19937(const uint8_t* legacy) {
    std::memcpy(&left_, legacy + kLeftAt, sizeof(left_));
    uint64_t next = 0;
    std::memcpy(&next, legacy + kNextAt, sizeof(next));
    next_ = static_cast<uint32_t>(next);
    for (int i = 0; i < kN; ++i) {
      uint64_t w = 0;
      std::memcpy(&w, legacy + kWordsAt + 8 * i, sizeof(w));
      state_[i] = static_cast<uint32_t>(w);
    }
  }

  // Writes this state over ``out`` (a copy of the input layout: other fields are kept).
  void store(uint8_t* out) const {
    std::memcpy(out + kLeftAt, &left_, sizeof(left_));
    const uint64_t next = next_;
    std::memcpy(out + kNextAt, &next, sizeof(next));
    for (int i = 0; i < kN; ++i) {
      const uint64_t w = state_[i];
      std::memcpy(out + kWordsAt + 8 * i, &w, sizeof(w));
    }
  }

  inline uint32_t operator()() {
    if (--left_ == 0) refill();
    uint32_t y = state_[next_++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
  }

  void skip(int64_t n) {
    for (int64_t i = 0; i < n; ++i) (*this)();
  }

 private:
  static inline uint32_t twist(uint32_t u, uint32_t v) {
    // branch-free: the low bit is random, so a branch here mispredicts every other word
    return (((u & 0x80000000u) | (v & 0x7fffffffu)) >> 1) ^ ((0u - (v & 1u)) & 0x9908b0dfu);
  }
  void refill() {
    left_ = kN;
    next_ = 0;
    int i = 0;
    for (; i < kN - kM; ++i) state_[i] = state_[i + kM] ^ twist(state_[i], state_[i + 1]);
    for (; i < kN - 1; ++i) state_[i] = state_[i + kM - kN] ^ twist(state_[i], state_[i + 1]);
    state_[kN - 1] = state_[kM - 1] ^ twist(state_[kN - 1], state_[0]);
  }

  uint32_t state_[kN];
  int32_t left_;
  uint32_t next_;
};

// torch's uniform_real<float>: the low 24 bits of one word; <double>: the low 53 of two.
inline float uniform_float(uint32_t w) { return static_cast<float>(w & 0xffffffu) * 0x1p-24f; }
inline double uniform_double(uint32_t hi, uint32_t lo) {
  const uint64_t r = (static_cast<uint64_t>(hi) << 32) | lo;
  return static_cast<double>(r & ((uint64_t{1} << 53) - 1)) * 0x1p-53;
}

// torch's normal_fill_16: Box-Muller on 16 uniforms in place (first 8 -> radii, last 8 -> angles).
inline void box_muller16(float* d) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j];
    const float u2 = d[j + 8];
    const float radius = std::sqrt(-2.0f * std::log(u1));
    const float theta = 2.0f * static_cast<float>(3.14159265358979323846) * u2;
    d[j] = radius * std::cos(theta);
    d[j + 8] = radius * std::sin(theta);
  }
}

void captum_kernel_shap_draws(std::uintptr_t state_p, std::uintptr_t probs_p, std::uintptr_t z_p,
                              std::uintptr_t unsure_p, std::uintptr_t starts_p, std::uintptr_t end_p,
                              int64_t n_examples, int64_t n_draw, int64_t M, double tie_eps) {
  if (M < 16) throw std::invalid_argument("captum_kernel_shap_draws: needs M >= 16 (torch's randn path)");
  const uint8_t* state_in = fastxai::ptr<const uint8_t>(state_p);
  const float* p = fastxai::ptr<const float>(probs_p);
  uint8_t* z = fastxai::ptr<uint8_t>(z_p);
  uint8_t* unsure = fastxai::ptr<uint8_t>(unsure_p);
  uint8_t* starts = fastxai::ptr<uint8_t>(starts_p);
  uint8_t* end = fastxai::ptr<uint8_t>(end_p);
  const float eps = static_cast<float>(tie_eps);
  TorchMt19937 gen(state_in);
  std::vector<float> normals(M), scratch(M);
  std::vector<double> u(M);
  for (int64_t e = 0; e < n_examples; ++e) {
    std::memcpy(starts + e * kStateBytes, state_in, kStateBytes);
    gen.store(starts + e * kStateBytes);
    for (int64_t s = 0; s < n_draw; ++s) {
      const int64_t row = e * n_draw + s;
      // multinomial(p, 1, replacement): argmax_j p_j / q_j, q_j = -log1p(-u_j) rounded to float,
      // first index on ties. u <= -log1p(-u) <= u / (1 - u) bounds every score without a log;
      // only features whose upper bound reaches the best lower bound (less a margin wider
      // than float round-off) can be the argmax or within the tie margin of it, so only
      // those (a few of M) get the exact log1p. The others' scores are below best * (1 - 2 eps).
      double best_lower = 0.0;
      bool degenerate = false;
      for (int64_t j = 0; j < M; ++j) {
        const uint32_t hi = gen();  // two statements: argument evaluation order is unspecified
        const uint32_t lo = gen();
        u[j] = uniform_double(hi, lo);
        degenerate |= u[j] == 0.0;  // torch: p / 0 = inf, or NaN for p = 0, which argmax takes
        best_lower = std::max(best_lower, p[j] * (1.0 - u[j]) / u[j]);
      }
      const double cut = best_lower * (1.0 - 2.0 * tie_eps);
      float best = -std::numeric_limits<float>::infinity(), second = best;
      int64_t k = 0;
      for (int64_t j = 0; j < M; ++j) {
        if (!(p[j] / u[j] >= cut)) continue;  // NaN (0 / 0) included: p(0) = 0 is never drawn
        const float q = static_cast<float>(-std::log1p(-u[j]));
        degenerate |= !(q > 0.0f);
        const float score = p[j] / q;
        if (score > best) {
          second = best;
          best = score;
          k = j;
        } else if (score > second) {
          second = score;
        }
      }
      // randn(1, M): all uniforms first, then Box-Muller per block of 16, the tail redone
      for (int64_t j = 0; j < M; ++j) normals[j] = uniform_float(gen());
      for (int64_t j = 0; j + 16 <= M; j += 16) box_muller16(normals.data() + j);
      if (M % 16) {
        float* tail = normals.data() + M - 16;
        for (int j = 0; j < 16; ++j) tail[j] = uniform_float(gen());
        box_muller16(tail);
      }
      // kthvalue(vals, M - k) (1-based) is the threshold; the k values above it are on
      const int64_t rank = k >= 1 ? M - k - 1 : M - 1;
      float thr = 0.0f, above = 0.0f;
      fastxai::order_stat_pair(normals.data(), M, rank, &thr, &above, scratch.data());
      uint8_t* zr = z + row * M;
      for (int64_t j = 0; j < M; ++j) zr[j] = normals[j] > thr;
      unsure[row] = degenerate || k < 1 || (best - second) <= eps * best ||
                    (above - thr) <= eps * (1.0f + std::fabs(above));
    }
    gen.skip(M + 3);  // the surrogate fit's draws: a DataLoader seed (2 words), nn.Linear init (M + 1)
  }
  std::memcpy(end, state_in, kStateBytes);
  gen.store(end);
}

}  // namespace

FASTXAI_REGISTER(captum_kernel_shap_draws) {
  m.def("captum_kernel_shap_draws", &captum_kernel_shap_draws, "state"_a, "probs"_a, "z"_a,
        "unsure"_a, "starts"_a, "end"_a, "n_examples"_a, "n_draw"_a, "M"_a, "tie_eps"_a);
}
