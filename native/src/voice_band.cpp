#include "voice_band.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rollcall {
namespace {
constexpr std::size_t kWidth = 4;                  // floats per SIMD register (SSE2 baseline)
constexpr std::size_t kChains = 2;                 // independent recursions interleaved per step
constexpr std::size_t kLanes = kWidth * kChains;  // frames per group
constexpr double kCutoffHz = 300.0;
constexpr double kRate = 8000.0;  // the filter runs on pairs of 16 kHz samples averaged
using v4 = float __attribute__((vector_size(16)));  // GCC/Clang vector extension
using i4 = int __attribute__((vector_size(16)));

// 4x4 transpose: row r of the result holds element r of each input.
inline void transpose(v4& a, v4& b, v4& c, v4& d) {
#if defined(__clang__)
  const v4 t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5), t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
  const v4 t2 = __builtin_shufflevector(c, d, 0, 4, 1, 5), t3 = __builtin_shufflevector(c, d, 2, 6, 3, 7);
  a = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  b = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  c = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  d = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
#else
  const v4 t0 = __builtin_shuffle(a, b, i4{0, 4, 1, 5}), t1 = __builtin_shuffle(a, b, i4{2, 6, 3, 7});
  const v4 t2 = __builtin_shuffle(c, d, i4{0, 4, 1, 5}), t3 = __builtin_shuffle(c, d, i4{2, 6, 3, 7});
  a = __builtin_shuffle(t0, t2, i4{0, 1, 4, 5});
  b = __builtin_shuffle(t0, t2, i4{2, 3, 6, 7});
  c = __builtin_shuffle(t1, t3, i4{0, 1, 4, 5});
  d = __builtin_shuffle(t1, t3, i4{2, 3, 6, 7});
#endif
}
}  // namespace

VoiceBand::VoiceBand(std::size_t frame_len)
    : frame_len_(frame_len), rows_((kWarm + frame_len) / 2 * kLanes), lanes_((kWarm + frame_len) / 2 * kLanes) {
  const double k = std::tan(M_PI * kCutoffHz / kRate);
  // The two sections of a 4th-order Butterworth: Q = 1 / (2 cos(pi/8)) and 1 / (2 cos(3 pi/8)).
  const double qs[2] = {1.0 / (2.0 * std::cos(M_PI / 8.0)), 1.0 / (2.0 * std::cos(3.0 * M_PI / 8.0))};
  for (int i = 0; i < 2; ++i) {
    const double norm = 1.0 / (1.0 + k / qs[i] + k * k);
    b_[i][0] = static_cast<float>(norm);
    b_[i][1] = static_cast<float>(-2.0 * norm);
    b_[i][2] = static_cast<float>(norm);
    b_[i][3] = static_cast<float>(2.0 * (k * k - 1.0) * norm);
    b_[i][4] = static_cast<float>((1.0 - k / qs[i] + k * k) * norm);
  }
}

void VoiceBand::energies(const std::int16_t* pcm, const std::vector<const std::int16_t*>& warm, float* out) {
  const std::size_t n = warm.size();
  const std::size_t F = frame_len_;
  // Steps at 8 kHz: each is the mean of two 16 kHz samples (a zero at 8 kHz; webrtcvad looks at
  // 0-4 kHz only, and halving the rate halves the cost of the recursion).
  const std::size_t W = kWarm / 2;
  const std::size_t T = (kWarm + F) / 2;
  const float s0b0 = b_[0][0], s0b1 = b_[0][1], s0b2 = b_[0][2], s0a1 = b_[0][3], s0a2 = b_[0][4];
  const float s1b0 = b_[1][0], s1b1 = b_[1][1], s1b2 = b_[1][2], s1a1 = b_[1][3], s1a2 = b_[1][4];
  for (std::size_t g = 0; g < n; g += kLanes) {
    const std::size_t m = std::min(kLanes, n - g);
    // Lane l holds frame g + l: its warm-up, then its samples. Each lane is first laid out as one
    // contiguous row (vectorised conversion), then four rows at a time are transposed into steps.
    for (std::size_t l = 0; l < kLanes; ++l) {
      float* row = rows_.data() + l * T;
      const std::int16_t* before = l < m ? warm[g + l] : nullptr;
      if (before) {
        for (std::size_t t = 0; t < W; ++t) row[t] = 0.5f * (static_cast<float>(before[2 * t]) + static_cast<float>(before[2 * t + 1]));
      } else {
        std::fill(row, row + W, 0.0f);
      }
      if (l < m) {
        const std::int16_t* src = pcm + (g + l) * F;
        for (std::size_t t = 0; t < F / 2; ++t) row[W + t] = 0.5f * (static_cast<float>(src[2 * t]) + static_cast<float>(src[2 * t + 1]));
      } else {
        std::fill(row + W, row + T, 0.0f);
      }
    }
    for (std::size_t c = 0; c < kChains; ++c) {
      const float* r0 = rows_.data() + (c * kWidth) * T;
      for (std::size_t t = 0; t < T; t += kWidth) {  // T is a multiple of 4 (80 + 80/160/240)
        v4 a, b, cc, d;
        std::memcpy(&a, r0 + t, sizeof a);
        std::memcpy(&b, r0 + T + t, sizeof b);
        std::memcpy(&cc, r0 + 2 * T + t, sizeof cc);
        std::memcpy(&d, r0 + 3 * T + t, sizeof d);
        transpose(a, b, cc, d);
        float* dst = lanes_.data() + t * kLanes + c * kWidth;
        std::memcpy(dst, &a, sizeof a);
        std::memcpy(dst + kLanes, &b, sizeof b);
        std::memcpy(dst + 2 * kLanes, &cc, sizeof cc);
        std::memcpy(dst + 3 * kLanes, &d, sizeof d);
      }
    }
    v4 z0a[kChains] = {}, z0b[kChains] = {}, z1a[kChains] = {}, z1b[kChains] = {}, acc[kChains] = {};
    const float* x = lanes_.data();
    for (std::size_t t = 0; t < T; ++t, x += kLanes) {
      const float w = t >= W ? 1.0f : 0.0f;
      for (std::size_t c = 0; c < kChains; ++c) {
        v4 in;
        std::memcpy(&in, x + c * kWidth, sizeof in);
        const v4 y0 = s0b0 * in + z0a[c];
        z0a[c] = s0b1 * in - s0a1 * y0 + z0b[c];
        z0b[c] = s0b2 * in - s0a2 * y0;
        const v4 y1 = s1b0 * y0 + z1a[c];
        z1a[c] = s1b1 * y0 - s1a1 * y1 + z1b[c];
        z1b[c] = s1b2 * y0 - s1a2 * y1;
        acc[c] += w * y1 * y1;
      }
    }
    const float scale = 1.0f / (static_cast<float>(F / 2) * 32768.0f * 32768.0f);
    for (std::size_t l = 0; l < m; ++l) out[g + l] = acc[l / kWidth][static_cast<int>(l % kWidth)] * scale;
  }
}

}  // namespace rollcall
