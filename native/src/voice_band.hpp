// Per-frame energy above 300 Hz (the band of speech formants, free of breath, handling noise and rumble).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rollcall {

// A 4th-order Butterworth high-pass at 300 Hz (16 kHz), run over each frame after a 10 ms warm-up on
// the audio just before it. The filter's memory of anything earlier has decayed by ~150 dB within
// the warm-up, so frames are independent: four are filtered at once in SIMD lanes instead of one
// long serial recursion (which is latency-bound and cost more than the resampler).
class VoiceBand {
 public:
  static constexpr std::size_t kWarm = 160;

  explicit VoiceBand(std::size_t frame_len);
  // Energies (mean square, samples scaled to [-1, 1)) for n consecutive-or-not frames of one stream.
  void energies(const std::int16_t* pcm, const std::int64_t* index, std::size_t n, float* out);

 private:
  std::size_t frame_len_;
  float b_[2][5];                    // per section: b0 b1 b2 a1 a2
  std::vector<float> tail_;          // the last kWarm samples of the last frame seen
  std::int64_t tail_index_ = -2;     // its frame index
  std::vector<float> lanes_;         // scratch: (kWarm + F) x 4 samples, interleaved by lane
};

}  // namespace rollcall
