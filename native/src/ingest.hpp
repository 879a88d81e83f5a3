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
#include "voice_band.hpp"

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
  std::int64_t rewinds = 0;                  // timestamps that went back past frames already emitted
  std::int64_t frames = 0;                   // frames emitted
};

// Frames produced by one drain(): every stream's, grouped by stream (ascending id), each in index order.
struct FrameOutput {
  std::vector<std::uint32_t> stream;
  std::vector<std::int64_t> index;
  std::vector<std::int16_t> pcm;  // index.size() * frame_len
  std::vector<float> energy;        // mean square of the frame, samples scaled to [-1, 1)
  std::vector<float> voice_energy;  // the same above 300 Hz (rolling off above 4 kHz): speech formants
};

class Ingest {
 public:
  // idle_ms: a stream with no audio for this long past its last sample is finished (filter tail and
  // partial frame emitted). Frames more than idle_ms + one frame before now are therefore final.
  Ingest(int frame_ms, double capacity_s, double idle_ms);

  // Thread-safe. Returns the number of samples accepted into the ring (0 for an opted-out stream).
  std::int64_t push(std::uint32_t stream, const std::uint8_t* data, std::size_t nbytes, int sample_rate,
                    double ts_ms);
  void set_consent(std::uint32_t stream, bool allowed);
  // Single consumer. Turns everything buffered into frames. With now_ms, streams that have been
  // silent for more than idle_ms are finished (filter tail and partial frame emitted); flush_all
  // finishes every stream (end of meeting).
  FrameOutput drain(double now_ms, bool flush_all);
  std::unordered_map<std::uint32_t, StreamStats> stats() const;

  int frame_ms() const { return frame_ms_; }
  int frame_len() const { return frame_len_; }
  double idle_ms() const { return idle_ms_; }

 private:
  struct Chunk {
    double ts_ms;   // NaN: contiguous with the previous chunk
    int rate;
    double skip_ms;  // audio removed just before this chunk by overflow (for chunks without ts)
    std::vector<std::int16_t> pcm;
    std::size_t off = 0;  // samples already dropped from the front by overflow
    std::size_t len() const { return pcm.size() - off; }
    const std::int16_t* data() const { return pcm.data() + off; }
  };
  struct Stream {
    std::mutex mu;  // guards chunks, pool, consent and stats
    bool consent = true;
    std::deque<Chunk> chunks;        // the ring: bounded by capacity_s of media, oldest first
    std::vector<std::vector<std::int16_t>> pool;  // sample buffers of drained chunks, for reuse
    double buffered_ms = 0.0;  // media duration of `chunks`
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
    std::vector<std::int16_t> tail;  // the last VoiceBand::kWarm samples of the last frame emitted
    std::int64_t tail_index = -2;     // that frame's index
    std::vector<float> x, y;          // scratch: a run of contiguous input as float, its 16 kHz output
  };

  Stream& stream_for(std::uint32_t id);
  void consume(Stream& s, const Chunk& c, FrameOutput& out);
  void resample_run(Stream& s, FrameOutput& out);
  void place(Stream& s, const std::vector<float>& y, FrameOutput& out);
  void finish_segment(Stream& s, FrameOutput& out, bool emit_partial);
  void emit_frame(Stream& s, FrameOutput& out);

  int frame_ms_;
  int frame_len_;
  double capacity_s_;
  double idle_ms_;
  mutable std::mutex map_mu_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Stream>> streams_;
  std::mutex drain_mu_;  // one consumer at a time
  std::unique_ptr<VoiceBand> voice_;
};

}  // namespace rollcall
