// Per-frame energy above 300 Hz, rolling off above 4 kHz (pairs of samples are averaged: -4 dB at 4.5 kHz,
// -8 dB at 6 kHz): the band of speech formants, free of breath, handling noise and rumble.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rollcall {

// A 4th-order Butterworth high-pass at 300 Hz, run at 8 kHz (pairs of samples averaged) over each frame
// after a 10 ms warm-up on the audio just before it. The filter's memory of anything earlier has faded
// by then, so frames are independent, and eight are filtered at once: four SIMD lanes in each of two
// interleaved chains.
// (One long recursion per stream is bound by its own latency and cost more than the resampler.)
class VoiceBand {
 public:
  static constexpr std::size_t kWarm = 160;  // 16 kHz samples of warm-up

  explicit VoiceBand(std::size_t frame_len);
  // Energies (mean square, samples scaled to [-1, 1)) of n frames pcm[r * F .. (r+1) * F). warm[r]
  // points at the kWarm samples that precede frame r, or is null when none came (silence).
  void energies(const std::int16_t* pcm, const std::vector<const std::int16_t*>& warm, float* out);

 private:
  std::size_t frame_len_;
  float b_[2][5];             // per section: b0 b1 b2 a1 a2
  std::vector<float> rows_;   // scratch: one contiguous row (warm-up + frame) per lane
  std::vector<float> lanes_;  // scratch: the same, interleaved step by step
};

}  // namespace rollcall
