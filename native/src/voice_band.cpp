#include "voice_band.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rollcall {
namespace {
constexpr std::size_t kLanes = 4;
constexpr double kCutoffHz = 300.0;
constexpr double kRate = 16000.0;
}  // namespace

VoiceBand::VoiceBand(std::size_t frame_len)
    : frame_len_(frame_len), tail_(kWarm, 0.0f), lanes_((kWarm + frame_len) * kLanes, 0.0f) {
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

void VoiceBand::energies(const std::int16_t* pcm, const std::int64_t* index, std::size_t n, float* out) {
  const std::size_t F = frame_len_;
  const std::size_t T = kWarm + F;
  const float s0b0 = b_[0][0], s0b1 = b_[0][1], s0b2 = b_[0][2], s0a1 = b_[0][3], s0a2 = b_[0][4];
  const float s1b0 = b_[1][0], s1b1 = b_[1][1], s1b2 = b_[1][2], s1a1 = b_[1][3], s1a2 = b_[1][4];
  for (std::size_t g = 0; g < n; g += kLanes) {
    const std::size_t m = std::min(kLanes, n - g);
    for (std::size_t l = 0; l < kLanes; ++l) {
      const std::size_t f = g + l;
      float* dst = lanes_.data() + l;
      if (l >= m) {
        for (std::size_t t = 0; t < T; ++t) dst[t * kLanes] = 0.0f;
        continue;
      }
      // Warm-up: the audio just before this frame, silence if the previous frame never came.
      const bool prev_in_batch = f > 0 && index[f - 1] == index[f] - 1;
      const bool prev_in_tail = f == 0 && tail_index_ == index[f] - 1;
      for (std::size_t t = 0; t < kWarm; ++t) {
        float v = 0.0f;
        if (prev_in_batch) v = static_cast<float>(pcm[(f - 1) * F + F - kWarm + t]);
        else if (prev_in_tail) v = tail_[t];
        dst[t * kLanes] = v;
      }
      const std::int16_t* src = pcm + f * F;
      for (std::size_t t = 0; t < F; ++t) dst[(kWarm + t) * kLanes] = static_cast<float>(src[t]);
    }
    // One SIMD register holds the four lanes (GCC/Clang vector extension: SSE2 on any x86-64).
    using v4 = float __attribute__((vector_size(16)));
    v4 z0a = {}, z0b = {}, z1a = {}, z1b = {}, acc = {};
    const float* x = lanes_.data();
    for (std::size_t t = 0; t < T; ++t, x += kLanes) {
      v4 in;
      std::memcpy(&in, x, sizeof in);
      const v4 y0 = s0b0 * in + z0a;
      z0a = s0b1 * in - s0a1 * y0 + z0b;
      z0b = s0b2 * in - s0a2 * y0;
      const v4 y1 = s1b0 * y0 + z1a;
      z1a = s1b1 * y0 - s1a1 * y1 + z1b;
      z1b = s1b2 * y0 - s1a2 * y1;
      if (t >= kWarm) acc += y1 * y1;
    }
    const float scale = 1.0f / (static_cast<float>(F) * 32768.0f * 32768.0f);
    for (std::size_t l = 0; l < m; ++l) out[g + l] = acc[static_cast<int>(l)] * scale;
  }
  if (n > 0) {
    const std::int16_t* last = pcm + (n - 1) * F + F - kWarm;
    for (std::size_t t = 0; t < kWarm; ++t) tail_[t] = static_cast<float>(last[t]);
    tail_index_ = index[n - 1];
  }
}

}  // namespace rollcall
