#include "ingest.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace rollcall {
namespace {

constexpr double kSamplesPerMs = kOutRate / 1000.0;

double duration_ms(std::size_t len, int rate) { return static_cast<double>(len) * 1000.0 / rate; }

}  // namespace

VoiceBandFilter::VoiceBandFilter() {
  const double k = std::tan(M_PI * 300.0 / kOutRate);
  // The two sections of a 4th-order Butterworth: Q = 1 / (2 cos(pi/8)) and 1 / (2 cos(3 pi/8)).
  const double qs[2] = {1.0 / (2.0 * std::cos(M_PI / 8.0)), 1.0 / (2.0 * std::cos(3.0 * M_PI / 8.0))};
  Biquad* sections[2] = {&s1, &s2};
  for (int i = 0; i < 2; ++i) {
    const double norm = 1.0 / (1.0 + k / qs[i] + k * k);
    Biquad& b = *sections[i];
    b.b0 = norm;
    b.b1 = -2.0 * norm;
    b.b2 = norm;
    b.a1 = 2.0 * (k * k - 1.0) * norm;
    b.a2 = (1.0 - k / qs[i] + k * k) * norm;
  }
}

Ingest::Ingest(int frame_ms, double capacity_s) : frame_ms_(frame_ms), capacity_s_(capacity_s) {
  if (frame_ms != 10 && frame_ms != 20 && frame_ms != 30) {
    throw std::invalid_argument("frame_ms must be 10, 20 or 30, got " + std::to_string(frame_ms));
  }
  if (!(capacity_s > 0.0)) throw std::invalid_argument("capacity_s must be positive");
  frame_len_ = kOutRate * frame_ms / 1000;
}

Ingest::Stream& Ingest::stream_for(std::uint32_t id) {
  std::lock_guard<std::mutex> lock(map_mu_);
  auto& slot = streams_[id];
  if (!slot) slot = std::make_unique<Stream>();
  return *slot;
}

std::int64_t Ingest::push(std::uint32_t stream, const std::uint8_t* data, std::size_t nbytes,
                          int sample_rate, double ts_ms) {
  if (sample_rate < 8000 || sample_rate > 192000) {
    throw std::invalid_argument("unsupported sample rate " + std::to_string(sample_rate));
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
  // int16 little-endian, assembled bytewise so unaligned buffers are fine.
  for (std::size_t i = 0; i < n; ++i) {
    const auto lo = static_cast<std::uint16_t>(data[2 * i]);
    const auto hi = static_cast<std::uint16_t>(data[2 * i + 1]);
    s.ring.push_back(static_cast<std::int16_t>(static_cast<std::uint16_t>(lo | (hi << 8))));
  }
  s.chunks.push_back(Chunk{ts_ms, sample_rate, n, 0.0});
  s.st.buffered_samples += static_cast<std::int64_t>(n);

  // Bound the ring by media duration: drop the oldest audio, keeping time alignment of what stays.
  double buffered_ms = 0.0;
  for (const Chunk& c : s.chunks) buffered_ms += duration_ms(c.len, c.rate);
  const double cap_ms = capacity_s_ * 1000.0;
  while (buffered_ms > cap_ms && !s.chunks.empty()) {
    Chunk& c = s.chunks.front();
    const double excess_ms = buffered_ms - cap_ms;
    auto k = static_cast<std::size_t>(std::ceil(excess_ms * c.rate / 1000.0));
    k = std::min(k, c.len);
    s.ring.erase(s.ring.begin(), s.ring.begin() + static_cast<std::ptrdiff_t>(k));
    s.st.dropped_overflow_samples += static_cast<std::int64_t>(k);
    s.st.buffered_samples -= static_cast<std::int64_t>(k);
    const double dropped_ms = duration_ms(k, c.rate);
    buffered_ms -= dropped_ms;
    if (k == c.len) {
      const Chunk gone = c;
      s.chunks.pop_front();
      if (!s.chunks.empty()) {
        Chunk& next = s.chunks.front();
        if (std::isnan(next.ts_ms)) {
          if (!std::isnan(gone.ts_ms)) {
            next.ts_ms = gone.ts_ms + gone.skip_ms + dropped_ms;
          } else {
            next.skip_ms += gone.skip_ms + dropped_ms;
          }
        }
      }
    } else {
      c.len -= k;
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
    s.st.dropped_consent_samples += static_cast<std::int64_t>(s.ring.size());
    s.st.buffered_samples -= static_cast<std::int64_t>(s.ring.size());
    s.ring.clear();
    s.chunks.clear();
  }
}

void Ingest::emit_frame(Stream& s, FrameOutput& out) {
  const auto F = static_cast<std::size_t>(frame_len_);
  double sum = 0.0, voice_sum = 0.0;
  for (std::size_t i = 0; i < F; ++i) {
    const float v = s.frame[i];
    sum += static_cast<double>(v) * static_cast<double>(v);
    const double hp = s.voice.run(static_cast<double>(v));
    voice_sum += hp * hp;
    const float r = std::nearbyint(std::clamp(v, -32768.0f, 32767.0f));
    out.pcm.push_back(static_cast<std::int16_t>(r));
  }
  const double scale = static_cast<double>(F) * 32768.0 * 32768.0;
  out.index.push_back(s.frame_idx);
  out.energy.push_back(static_cast<float>(sum / scale));
  out.voice_energy.push_back(static_cast<float>(voice_sum / scale));
  s.last_emitted = s.frame_idx;
  s.frame_idx = -1;
}

void Ingest::place(Stream& s, const std::vector<float>& y, FrameOutput& out) {
  const std::int64_t F = frame_len_;
  const std::int64_t first_allowed = (s.last_emitted + 1) * F;
  for (const float v : y) {
    const std::int64_t p = s.seg_pos++;
    if (p < first_allowed || p < 0) {
      s.pend.late_outputs += 1;
      continue;
    }
    const std::int64_t k = p / F;
    if (s.frame_idx >= 0 && k != s.frame_idx) emit_frame(s, out);
    if (s.frame_idx < 0) {
      s.frame_idx = k;
      std::fill(s.frame.begin(), s.frame.end(), 0.0f);
    }
    const std::int64_t off = p - k * F;
    s.frame[static_cast<std::size_t>(off)] = v;
    if (off == F - 1) emit_frame(s, out);
  }
}

void Ingest::finish_segment(Stream& s, FrameOutput& out) {
  if (!s.open) return;
  std::vector<float> tail;
  s.rs->flush(tail);
  place(s, tail, out);
  if (s.frame_idx >= 0) emit_frame(s, out);  // a partial frame: the rest of it is silence
  s.voice.reset();
  s.open = false;
  s.pend.gaps += 1;
}

void Ingest::consume(Stream& s, const Chunk& c, const std::int16_t* samples, FrameOutput& out) {
  const double t = std::isnan(c.ts_ms) ? s.expected_ms + c.skip_ms : c.ts_ms;
  const bool rate_changed = s.open && c.rate != s.rate;
  const bool jumped = s.open && (std::fabs(t - s.expected_ms) > frame_ms_ || c.skip_ms > 0.0);
  if (rate_changed) s.pend.rate_changes += 1;
  if (rate_changed || jumped) finish_segment(s, out);
  if (!s.open) {
    if (!s.rs || s.rs->in_rate() != c.rate) s.rs = std::make_unique<Resampler>(c.rate, kOutRate);
    s.rate = c.rate;
    s.seg_pos = std::llround(t * kSamplesPerMs);
    s.expected_ms = t;
    s.open = true;
  }
  std::vector<float> x(c.len);
  for (std::size_t i = 0; i < c.len; ++i) x[i] = static_cast<float>(samples[i]);
  std::vector<float> y;
  y.reserve(c.len * kOutRate / static_cast<std::size_t>(c.rate) + 4);
  s.rs->process(x.data(), x.size(), y);
  place(s, y, out);
  s.expected_ms += duration_ms(c.len, c.rate);
}

std::vector<FrameOutput> Ingest::drain(double now_ms, bool flush_all) {
  std::lock_guard<std::mutex> drain_lock(drain_mu_);
  std::vector<std::pair<std::uint32_t, Stream*>> all;
  {
    std::lock_guard<std::mutex> lock(map_mu_);
    all.reserve(streams_.size());
    for (auto& [id, sp] : streams_) all.emplace_back(id, sp.get());
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  std::vector<FrameOutput> result;
  for (auto& [id, sp] : all) {
    Stream& s = *sp;
    std::deque<Chunk> chunks;
    std::vector<std::int16_t> samples;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      chunks.swap(s.chunks);
      samples.assign(s.ring.begin(), s.ring.end());
      s.ring.clear();
      s.st.buffered_samples = 0;
    }
    if (s.frame.empty()) s.frame.assign(static_cast<std::size_t>(frame_len_), 0.0f);
    FrameOutput out;
    out.stream = id;
    std::int64_t drained = 0;
    std::size_t offset = 0;
    for (const Chunk& c : chunks) {
      consume(s, c, samples.data() + offset, out);
      offset += c.len;
      drained += static_cast<std::int64_t>(c.len);
    }
    const bool idle = !std::isnan(now_ms) && now_ms - s.expected_ms > frame_ms_;
    if (s.open && (flush_all || idle)) finish_segment(s, out);
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.st.drained_samples += drained;
      s.st.frames += static_cast<std::int64_t>(out.index.size());
      s.st.gaps += s.pend.gaps;
      s.st.rate_changes += s.pend.rate_changes;
      s.st.late_outputs += s.pend.late_outputs;
      s.pend = StreamStats{};
    }
    if (!out.index.empty()) result.push_back(std::move(out));
  }
  return result;
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
