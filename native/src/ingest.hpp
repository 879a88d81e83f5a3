// Raw-audio ingest: SDK callback threads push PCM chunks per participant stream; one analysis thread
// drains fixed 16 kHz frames on a global media-time grid.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "resampler.hpp"

namespace rollcall {

constexpr int kOutRate = 16000;

struct StreamStats {
  std::int64_t pushed_samples = 0;           // every input sample offered to push()
  std::int64_t drained_samples = 0;          // input samples consumed by the resampler
  std::int64_t dropped_overflow_samples = 0; // oldest audio dropped because the ring was full
  std::int64_t dropped_consent_samples = 0;  // opted-out participant: dropped before buffering
  std::int64_t late_outputs = 0;             // 16 kHz outputs discarded: their frame was already emitted
  std::int64_t buffered_samples = 0;         // waiting in the ring
  std::int64_t odd_bytes = 0;                // chunks whose byte count was odd (trailing byte ignored)
  std::int64_t chunks = 0;
  std::int64_t gaps = 0;                     // discontinuities: timestamp jumps, idle, rate changes, overflow
  std::int64_t rate_changes = 0;
  std::int64_t frames = 0;                   // frames emitted
};

// Frames of one stream produced by one drain().
struct FrameOutput {
  std::uint32_t stream = 0;
  std::vector<std::int64_t> index;
  std::vector<std::int16_t> pcm;  // index.size() * frame_len
  std::vector<float> energy;        // mean square of the frame, samples scaled to [-1, 1)
  std::vector<float> voice_energy;  // the same above 300 Hz: the band that carries speech formants
};

// Fourth-order Butterworth high-pass at 300 Hz (16 kHz) as two biquads (direct form II transposed).
// Separates the speech band from breath on the microphone, handling noise and rumble, which sit below it.
struct Biquad {
  double b0 = 0, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
  double z1 = 0.0, z2 = 0.0;
  double run(double x) {
    const double y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    return y;
  }
};

struct VoiceBandFilter {
  VoiceBandFilter();
  double run(double x) { return s2.run(s1.run(x)); }
  void reset() { s1.z1 = s1.z2 = s2.z1 = s2.z2 = 0.0; }
  Biquad s1, s2;
};

class Ingest {
 public:
  Ingest(int frame_ms, double capacity_s);

  // Thread-safe. Returns the number of samples accepted into the ring (0 for an opted-out stream).
  std::int64_t push(std::uint32_t stream, const std::uint8_t* data, std::size_t nbytes, int sample_rate,
                    double ts_ms);
  void set_consent(std::uint32_t stream, bool allowed);
  // Single consumer. Turns everything buffered into frames. With now_ms, streams that have been
  // silent for more than a frame are finished (filter tail and partial frame emitted); flush_all
  // finishes every stream (end of meeting).
  std::vector<FrameOutput> drain(double now_ms, bool flush_all);
  std::unordered_map<std::uint32_t, StreamStats> stats() const;

  int frame_ms() const { return frame_ms_; }
  int frame_len() const { return frame_len_; }

 private:
  struct Chunk {
    double ts_ms;   // NaN: contiguous with the previous chunk
    int rate;
    std::size_t len;
    double skip_ms;  // audio removed just before this chunk by overflow (for chunks without ts)
  };
  struct Stream {
    std::mutex mu;  // guards the ring, chunks, consent and stats
    bool consent = true;
    std::deque<std::int16_t> ring;
    std::deque<Chunk> chunks;
    StreamStats st;
    StreamStats pend;  // consumer-side counters, merged into st under mu at the end of drain()
    // Consumer-only state (touched by drain() alone).
    std::unique_ptr<Resampler> rs;
    bool open = false;               // a segment is running
    double expected_ms = 0.0;        // media time just after the last sample consumed
    std::int64_t seg_pos = 0;        // global 16 kHz position of the next resampler output
    std::int64_t frame_idx = -1;     // index of the partial frame being filled
    std::int64_t last_emitted = -1;  // highest frame index emitted
    int rate = 0;                    // input rate of the running segment
    std::vector<float> frame;        // partial frame samples
    VoiceBandFilter voice;           // runs over emitted frames in order
  };

  Stream& stream_for(std::uint32_t id);
  void consume(Stream& s, const Chunk& c, const std::int16_t* samples, FrameOutput& out);
  void place(Stream& s, const std::vector<float>& y, FrameOutput& out);
  void finish_segment(Stream& s, FrameOutput& out);
  void emit_frame(Stream& s, FrameOutput& out);

  int frame_ms_;
  int frame_len_;
  double capacity_s_;
  mutable std::mutex map_mu_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Stream>> streams_;
  std::mutex drain_mu_;  // one consumer at a time
};

}  // namespace rollcall
