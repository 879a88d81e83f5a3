#include "ingest.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>

namespace rollcall {
namespace {

constexpr double kSamplesPerMs = kOutRate / 1000.0;
constexpr std::size_t kPoolMax = 256;  // recycled chunk buffers kept per stream
// Zoom delivers 32 or 48 kHz; the others are common file and device rates. A fixed list keeps every
// resampler's filter small (an arbitrary rate could need millions of taps).
constexpr int kRates[] = {8000, 16000, 24000, 32000, 44100, 48000};
constexpr double kMaxTimestampMs = 1e12;  // ~31 years: beyond it a timestamp is garbage
// Timestamps closer than this to where the stream's audio would continue are read as continuous; a
// larger jump (a missing chunk, a mute) is a gap. SDK chunks are 10 ms, so one missing chunk is a gap.
constexpr double kJitterMs = 2.0;

double duration_ms(std::size_t len, int rate) { return static_cast<double>(len) * 1000.0 / rate; }

}  // namespace

Ingest::Ingest(int frame_ms, double capacity_s, double idle_ms)
    : frame_ms_(frame_ms), capacity_s_(capacity_s), idle_ms_(idle_ms) {
  if (frame_ms != 10 && frame_ms != 20 && frame_ms != 30) {
    throw std::invalid_argument("frame_ms must be 10, 20 or 30, got " + std::to_string(frame_ms));
  }
  if (!(capacity_s > 0.0)) throw std::invalid_argument("capacity_s must be positive");
  if (!(idle_ms >= 0.0)) throw std::invalid_argument("idle_ms must not be negative");
  frame_len_ = kOutRate * frame_ms / 1000;
  voice_ = std::make_unique<VoiceBand>(static_cast<std::size_t>(frame_len_));
}

Ingest::Stream& Ingest::stream_for(std::uint32_t id) {
  std::lock_guard<std::mutex> lock(map_mu_);
  auto& slot = streams_[id];
  if (!slot) slot = std::make_unique<Stream>();
  return *slot;
}

std::int64_t Ingest::push(std::uint32_t stream, const std::uint8_t* data, std::size_t nbytes,
                          int sample_rate, double ts_ms) {
  if (std::find(std::begin(kRates), std::end(kRates), sample_rate) == std::end(kRates)) {
    throw std::invalid_argument("unsupported sample rate " + std::to_string(sample_rate) +
                                " (8000, 16000, 24000, 32000, 44100 or 48000)");
  }
  if (!std::isnan(ts_ms) && !(std::fabs(ts_ms) <= kMaxTimestampMs)) {
    throw std::invalid_argument("ts_ms must be NaN (contiguous) or a finite media time in ms, not " +
                                std::to_string(ts_ms));
  }
  Stream& s = stream_for(stream);
  const std::size_t n = nbytes / 2;
  std::lock_guard<std::mutex> lock(s.mu);
  s.st.chunks += 1;
  if (nbytes % 2 != 0) s.st.odd_bytes += 1;
  s.st.pushed_samples += static_cast<std::int64_t>(n);
  if (!s.consent) {
    s.st.dropped_consent_samples += static_cast<std::int64_t>(n);
    return 0;
  }
  if (n == 0) return 0;
  Chunk chunk{ts_ms, sample_rate, 0.0, {}, 0};
  if (!s.pool.empty()) {
    chunk.pcm = std::move(s.pool.back());
    s.pool.pop_back();
  }
  chunk.pcm.resize(n);
  // int16 little-endian: a plain copy on little-endian hosts, assembled bytewise elsewhere.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(chunk.pcm.data(), data, n * 2);
#else
  for (std::size_t i = 0; i < n; ++i) {
    const auto lo = static_cast<std::uint16_t>(data[2 * i]);
    const auto hi = static_cast<std::uint16_t>(data[2 * i + 1]);
    chunk.pcm[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(lo | (hi << 8)));
  }
#endif
  s.chunks.push_back(std::move(chunk));
  s.st.buffered_samples += static_cast<std::int64_t>(n);
  s.buffered_ms += duration_ms(n, sample_rate);

  // Bound the ring by media duration: drop the oldest audio, keeping time alignment of what stays.
  const double cap_ms = capacity_s_ * 1000.0;
  while (s.buffered_ms > cap_ms && !s.chunks.empty()) {
    Chunk& c = s.chunks.front();
    const double excess_ms = s.buffered_ms - cap_ms;
    const auto k = std::min(static_cast<std::size_t>(std::ceil(excess_ms * c.rate / 1000.0)), c.len());
    s.st.dropped_overflow_samples += static_cast<std::int64_t>(k);
    s.st.buffered_samples -= static_cast<std::int64_t>(k);
    const double dropped_ms = duration_ms(k, c.rate);
    s.buffered_ms -= dropped_ms;
    if (k == c.len()) {
      const double gone_ts = c.ts_ms, gone_skip = c.skip_ms;
      if (s.pool.size() < kPoolMax) s.pool.push_back(std::move(c.pcm));
      s.chunks.pop_front();
      if (!s.chunks.empty()) {
        Chunk& next = s.chunks.front();
        if (std::isnan(next.ts_ms)) {
          if (!std::isnan(gone_ts)) {
            next.ts_ms = gone_ts + gone_skip + dropped_ms;
          } else {
            next.skip_ms += gone_skip + dropped_ms;
          }
        }
      }
    } else {
      c.off += k;
      if (std::isnan(c.ts_ms)) {
        c.skip_ms += dropped_ms;
      } else {
        c.ts_ms += dropped_ms;
      }
    }
  }
  return static_cast<std::int64_t>(n);
}

void Ingest::set_consent(std::uint32_t stream, bool allowed) {
  Stream& s = stream_for(stream);
  std::lock_guard<std::mutex> lock(s.mu);
  s.consent = allowed;
  if (!allowed) {
    // Audio already buffered from before the opt-out is not analysed either.
    for (const Chunk& c : s.chunks) s.st.dropped_consent_samples += static_cast<std::int64_t>(c.len());
    s.st.buffered_samples = 0;
    s.chunks.clear();
    s.buffered_ms = 0.0;
  }
}

void Ingest::emit_frame(Stream& s, FrameOutput& out) {
  const auto F = static_cast<std::size_t>(frame_len_);
  const std::size_t at = out.pcm.size();
  out.pcm.resize(at + F);
  std::int16_t* dst = out.pcm.data() + at;
  const float* src = s.frame.data();
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < F; ++i) sum += src[i] * src[i];
  // Round to nearest (adding and removing 1.5 * 2^23 leaves the rounded value in float; exact for the
  // audio range) and saturate to int16; written this way it vectorises.
  constexpr float kRound = 12582912.0f;
  for (std::size_t i = 0; i < F; ++i) {
    const auto r = static_cast<std::int32_t>((src[i] + kRound) - kRound);
    dst[i] = static_cast<std::int16_t>(std::min(std::max(r, -32768), 32767));
  }
  out.index.push_back(s.frame_idx);
  out.energy.push_back(sum / (static_cast<float>(F) * 32768.0f * 32768.0f));
  s.last_emitted = s.frame_idx;
  s.frame_idx = -1;
}

void Ingest::place(Stream& s, const std::vector<float>& y, FrameOutput& out) {
  const std::int64_t F = frame_len_;
  std::size_t i = 0;
  const std::size_t n = y.size();
  // Outputs for frames already emitted (or before meeting start) cannot be placed any more.
  const std::int64_t first_allowed = std::max<std::int64_t>(0, (s.last_emitted + 1) * F);
  if (s.seg_pos < first_allowed) {
    const auto skip = static_cast<std::size_t>(std::min<std::int64_t>(first_allowed - s.seg_pos, static_cast<std::int64_t>(n)));
    s.pend.late_outputs += static_cast<std::int64_t>(skip);
    s.seg_pos += static_cast<std::int64_t>(skip);
    i = skip;
  }
  while (i < n) {
    const std::int64_t k = s.seg_pos / F;
    if (s.frame_idx >= 0 && k != s.frame_idx) emit_frame(s, out);
    if (s.frame_idx < 0) {
      s.frame_idx = k;
      std::fill(s.frame.begin(), s.frame.end(), 0.0f);
    }
    const std::int64_t off = s.seg_pos - k * F;
    const auto take = static_cast<std::size_t>(std::min<std::int64_t>(F - off, static_cast<std::int64_t>(n - i)));
    std::copy(y.begin() + static_cast<std::ptrdiff_t>(i), y.begin() + static_cast<std::ptrdiff_t>(i + take),
              s.frame.begin() + off);
    i += take;
    s.seg_pos += static_cast<std::int64_t>(take);
    if (off + static_cast<std::int64_t>(take) == F) emit_frame(s, out);
  }
}

void Ingest::finish_segment(Stream& s, FrameOutput& out, bool emit_partial) {
  if (s.open) {
    std::vector<float> tail;
    s.rs->flush(tail);
    place(s, tail, out);
    s.open = false;
    s.pend.gaps += 1;
  }
  // The partial frame stays open while audio may still continue in it (a short gap inside one frame);
  // it is emitted when a later frame starts, when the stream goes idle, or at the end. The rest of it
  // is silence.
  if (emit_partial && s.frame_idx >= 0) emit_frame(s, out);
}

void Ingest::consume(Stream& s, const Chunk& c, FrameOutput& out) {
  const double t = std::isnan(c.ts_ms) ? s.expected_ms + c.skip_ms : c.ts_ms;
  const bool rate_changed = s.open && c.rate != s.rate;
  const bool jumped = s.open && (std::fabs(t - s.expected_ms) > kJitterMs || c.skip_ms > 0.0);
  if (rate_changed) s.pend.rate_changes += 1;
  if (rate_changed || jumped) {
    resample_run(s, out);
    finish_segment(s, out, false);
  }
  if (!s.open) {
    if (!s.rs || s.rs->in_rate() != c.rate) s.rs = std::make_unique<Resampler>(c.rate, kOutRate);
    s.rate = c.rate;
    s.seg_pos = std::llround(t * kSamplesPerMs);
    s.expected_ms = t;
    s.open = true;
    // A timestamp more than a frame before what was already emitted: the clock went back (or an
    // earlier chunk was stamped wrongly ahead). Accept it rather than drop this stream's audio from
    // here on; frames emitted twice are left to the consumer (the talk detector keeps the first).
    if (s.seg_pos / frame_len_ < s.last_emitted) {
      s.last_emitted = std::max<std::int64_t>(-1, s.seg_pos / frame_len_ - 1);
      s.pend.rewinds += 1;
    }
  }
  // Contiguous chunks collect in s.x and go through the resampler together (resample_run).
  const std::size_t len = c.len();
  const std::int16_t* samples = c.data();
  const std::size_t at = s.x.size();
  s.x.resize(at + len);
  for (std::size_t i = 0; i < len; ++i) s.x[at + i] = static_cast<float>(samples[i]);
  s.expected_ms += duration_ms(len, c.rate);
}

void Ingest::resample_run(Stream& s, FrameOutput& out) {
  if (s.x.empty()) return;
  s.y.clear();
  s.rs->process(s.x.data(), s.x.size(), s.y);
  s.x.clear();
  place(s, s.y, out);
}

FrameOutput Ingest::drain(double now_ms, bool flush_all) {
  std::lock_guard<std::mutex> drain_lock(drain_mu_);
  std::vector<std::pair<std::uint32_t, Stream*>> all;
  {
    std::lock_guard<std::mutex> lock(map_mu_);
    all.reserve(streams_.size());
    for (auto& [id, sp] : streams_) all.emplace_back(id, sp.get());
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  FrameOutput out;
  const auto F = static_cast<std::size_t>(frame_len_);
  std::vector<std::vector<std::int16_t>> tails;               // warm-ups carried over from earlier drains
  std::vector<std::pair<std::size_t, std::size_t>> tail_of_row;  // (row, tails index)
  for (auto& [id, sp] : all) {
    Stream& s = *sp;
    std::deque<Chunk> chunks;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      chunks.swap(s.chunks);
      s.buffered_ms = 0.0;
      s.st.buffered_samples = 0;
    }
    if (s.frame.empty()) s.frame.assign(static_cast<std::size_t>(frame_len_), 0.0f);
    const std::size_t first = out.index.size();
    std::int64_t drained = 0;
    for (const Chunk& c : chunks) {
      consume(s, c, out);
      drained += static_cast<std::int64_t>(c.len());
    }
    resample_run(s, out);
    const bool idle = !std::isnan(now_ms) && now_ms - s.expected_ms > idle_ms_;
    if (flush_all || idle) finish_segment(s, out, true);
    const std::size_t made = out.index.size() - first;
    out.stream.resize(out.index.size(), id);
    if (made > 0) {
      // The warm-up before this drain's first frame is the stream's previous tail, if it was adjacent.
      if (s.tail_index == out.index[first] - 1) {
        tails.push_back(s.tail);
        tail_of_row.emplace_back(first, tails.size() - 1);
      }
      const std::int16_t* last = out.pcm.data() + (first + made) * F - VoiceBand::kWarm;
      s.tail.assign(last, last + VoiceBand::kWarm);
      s.tail_index = out.index[first + made - 1];
    }
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.st.drained_samples += drained;
      for (Chunk& c : chunks) {
        if (s.pool.size() < kPoolMax) s.pool.push_back(std::move(c.pcm));
      }
      s.st.frames += static_cast<std::int64_t>(made);
      s.st.gaps += s.pend.gaps;
      s.st.rate_changes += s.pend.rate_changes;
      s.st.late_outputs += s.pend.late_outputs;
      s.st.rewinds += s.pend.rewinds;
      s.pend = StreamStats{};
    }
  }
  // Voice-band energy of every frame of every stream in one pass (SIMD across frames).
  const std::size_t n = out.index.size();
  std::vector<const std::int16_t*> warm(n, nullptr);
  for (std::size_t r = 1; r < n; ++r) {
    if (out.stream[r] == out.stream[r - 1] && out.index[r] == out.index[r - 1] + 1) {
      warm[r] = out.pcm.data() + r * F - VoiceBand::kWarm;
    }
  }
  for (const auto& [row, t] : tail_of_row) warm[row] = tails[t].data();
  out.voice_energy.resize(n);
  voice_->energies(out.pcm.data(), warm, out.voice_energy.data());
  return out;
}

std::unordered_map<std::uint32_t, StreamStats> Ingest::stats() const {
  std::unordered_map<std::uint32_t, StreamStats> result;
  std::lock_guard<std::mutex> lock(map_mu_);
  for (const auto& [id, sp] : streams_) {
    std::lock_guard<std::mutex> slock(sp->mu);
    result[id] = sp->st;
  }
  return result;
}

}  // namespace rollcall
