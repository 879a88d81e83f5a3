// Streaming polyphase FIR resampler (rational L/M) with a Kaiser-windowed sinc anti-aliasing filter.
#pragma once

#include <cstdint>
#include <vector>

namespace rollcall {

class Resampler {
 public:
  // Filter design follows scipy.signal.resample_poly's default (half length 10*max(L, M) input-rate
  // taps at the upsampled rate, cutoff 1/max(L, M) of Nyquist, Kaiser beta 5), so the output can be
  // checked against it sample for sample.
  Resampler(int in_rate, int out_rate);

  // Appends the output for `n` new input samples to `out`. The first outputs after construction or
  // reset() are aligned with the first input sample (the filter's group delay is compensated).
  void process(const float* in, std::size_t n, std::vector<float>& out);
  // Emits the outputs still owed for the input so far (the filter tail), then resets.
  void flush(std::vector<float>& out);
  void reset();

  int in_rate() const { return in_rate_; }
  int out_rate() const { return out_rate_; }
  int up() const { return up_; }
  int down() const { return down_; }
  std::size_t num_taps() const { return taps_.size(); }

 private:
  void run(const float* in, std::size_t n, std::vector<float>& out);
  void decimate(std::int64_t newest0, std::size_t count, float* y);

  int in_rate_, out_rate_, up_, down_;
  std::vector<float> taps_;          // full filter, length 2*half_len+1, scaled by up
  std::vector<std::vector<float>> phases_;  // phases_[p][i] = taps_[p + i*up], reversed for a forward dot product
  std::size_t phase_len_ = 0;
  struct TapPair {
    std::size_t i, mirror;  // tap index and its mirror image (equal for the centre tap)
    float coef;
  };
  std::vector<TapPair> pairs_;       // the non-zero taps, folded by symmetry, for up == 1
  std::vector<float> poly_;          // scratch: hist_ split into `down` polyphase rows
  std::vector<float> hist_;          // last phase_len_-1 input samples, then new input
  std::int64_t consumed_ = 0;        // input samples fed since reset
  std::int64_t produced_ = 0;        // outputs computed since reset (including the discarded delay)
  std::int64_t next_up_index_ = 0;   // index into the upsampled stream of the next output
  std::int64_t delay_ = 0;           // outputs to discard after reset (group delay at the output rate)
  std::int64_t emitted_ = 0;         // outputs handed out since reset
};

}  // namespace rollcall
