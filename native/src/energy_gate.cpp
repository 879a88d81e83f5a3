#include "energy_gate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rollcall {

namespace {

double to_db(double x) { return 10.0 * std::log10(std::max(x, EnergyGate::kEnergyEps)); }

// numpy.interp over two points: clamped at both ends, linear between.
double interp(double x, double x0, double x1, double y0, double y1) {
  if (!(x > x0)) return y0;
  if (x >= x1) return y1;
  return (y1 - y0) / (x1 - x0) * (x - x0) + y0;
}

}  // namespace

EnergyGate::EnergyGate(const GateParams& p)
    : p_(p),
      prior_bin_(static_cast<int>(std::clamp(std::nearbyint(p.prior_db - kBinLoDb), 0.0, double(kBins - 1)))),
      full_floor_margin_(std::pow(10.0, p.floor_margin_db / 10.0)),
      levels_(p.level_quantile, p.min_level, p.min_background, p.range_db, p.audible_db, p.level_cap) {
  p_.floor_frames = std::max(1, p.floor_frames);
  p_.spread_frames = std::max(1, p.spread_frames);
}

int EnergyGate::add_channel() {
  const int n = channels();
  const int c = n + 1;
  std::vector<Hist> hist(static_cast<std::size_t>(c) * c, Hist{});
  std::vector<std::pair<int, int>> span(static_cast<std::size_t>(c) * c, {kBins, -1});
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) hist[i * c + j] = hist_[i * n + j], span[i * c + j] = span_[i * n + j];
  for (int k = 0; k < c; ++k) {
    for (const int p : {n * c + k, k * c + n}) {
      hist[p][prior_bin_] += p_.prior_weight;
      span[p] = {std::min(span[p].first, prior_bin_), std::max(span[p].second, prior_bin_)};
    }
  }
  hist[n * c + n].fill(0.0);
  span[n * c + n] = {kBins, -1};
  hist_ = std::move(hist);
  span_ = std::move(span);
  floor_hist_.emplace_back();
  spread_hist_.emplace_back(static_cast<std::size_t>(p_.spread_frames - 1), 0.0);
  last_sure_.push_back(-(std::int64_t{1} << 40));
  frames.push_back(0);
  clipped.push_back(0);
  gain_.assign(static_cast<std::size_t>(c) * c, 0.0);
  tight_gain_.assign(static_cast<std::size_t>(c) * c, 0.0);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j) refresh_pair(i, j);
  levels_.add_channel();
  return n;
}

std::vector<double> EnergyGate::floor_db() const {
  std::vector<double> out;
  for (const auto& fh : floor_hist_)
    out.push_back(fh.empty() ? std::numeric_limits<double>::infinity() : to_db(*std::min_element(fh.begin(), fh.end())));
  return out;
}

// The coupling gain of j -> i: the bin centre where the histogram's cumulative share first reaches the
// quantile, capped at 0 dB; tight when the interquartile spread of the ratios is at most tight_db over at
// least min_level frames.
void EnergyGate::refresh_pair(int i, int j) {
  const int c = channels();
  const Hist& h = hist_[i * c + j];
  const auto [lo, hi] = span_[i * c + j];
  double tot = 0.0;
  for (int k = lo; k <= hi; ++k) tot += h[k];
  double g = 0.0;
  bool tight = false;
  if (i != j && tot > 0.0) {
    double cum = 0.0;
    int b = -1, q25 = -1, q75 = -1;
    for (int k = p_.quantile > 0.0 ? lo : 0; k < kBins && (b < 0 || q25 < 0 || q75 < 0); ++k) {
      cum += h[k];
      const double share = cum / tot;
      if (b < 0 && share >= p_.quantile) b = k;
      if (q25 < 0 && share >= 0.25) q25 = k;
      if (q75 < 0 && share >= 0.75) q75 = k;
    }
    g = std::min(1.0, std::pow(10.0, (kBinLoDb + std::max(b, 0) + 0.5) / 10.0));
    tight = q75 - q25 <= p_.tight_db && tot >= p_.min_level;
  }
  gain_[i * c + j] = g;
  tight_gain_[i * c + j] = tight ? g : 0.0;
}

void EnergyGate::leakage(const std::vector<double>& gains, const double* spread, double* leak) const {
  const int c = channels();
  for (int i = 0; i < c; ++i) {
    double l = 0.0;
    for (int j = 0; j < c; ++j) l += gains[i * c + j] * spread[j];
    leak[i] = l;
  }
}

// Frames where j clearly talks, i is present and j is the louder of the two (each relative to its own speech
// level) teach the coupling j -> i, as the ratio of the two channels' energies above their floors.
bool EnergyGate::learn(const double* x, const std::uint8_t* present, const std::uint8_t* clear,
                       const double* loudness) {
  const int c = channels();
  touched_.clear();
  for (int j = 0; j < c; ++j) {
    if (!clear[j]) continue;
    const double db_j = to_db(x[j]);
    for (int i = 0; i < c; ++i) {
      if (i == j || !present[i] || !(loudness[j] > loudness[i])) continue;
      const double ratio_db = to_db(x[i]) - db_j;
      const double bin = std::clamp(std::nearbyint(ratio_db - kBinLoDb - 0.5), 0.0, double(kBins - 1));
      const int p = i * c + j, b = static_cast<int>(bin);
      hist_[p][b] += 1.0;
      span_[p] = {std::min(span_[p].first, b), std::max(span_[p].second, b)};
      touched_.push_back(p);
    }
  }
  // Only the pairs just updated can have passed the cap or changed their gain.
  for (int p : touched_) {
    Hist& h = hist_[p];
    double tot = 0.0;
    for (int k = span_[p].first; k <= span_[p].second; ++k) tot += h[k];
    if (tot > p_.cap)
      for (double& v : h) v *= 0.5;
    refresh_pair(p / c, p % c);
  }
  return !touched_.empty();
}

void EnergyGate::process(const double* voice, const double* full, const std::uint8_t* present, std::int64_t n,
                         std::uint8_t* cand, double* gain, double* snr) {
  const int c = channels();
  std::vector<double> v(c), floor(c), excess(c), spread(c), src(c), leak(c), tight(c), bg_db(c), e_db(c), f_db(c),
      fl_db(c), level(c), loudness(c), known;
  std::vector<std::uint8_t> got(c), ok(c), sure(c), clear(c), teach(c);
  const ChannelLevels& lv = levels_;
  for (std::int64_t k = 0; k < n; ++k, ++frame_) {
    for (int i = 0; i < c; ++i) {
      const std::int64_t at = i * n + k;
      v[i] = voice[at];
      got[i] = present[at];
      // Noise floor: the minimum over this channel's last floor_frames received frames (missing frames
      // neither count nor age it).
      floor[i] = std::numeric_limits<double>::infinity();
      if (got[i]) {
        const double e = std::max(v[i], kEnergyEps);
        auto& fh = floor_hist_[i];
        double m = e;
        for (double h : fh) m = std::min(m, h);
        floor[i] = m;
        if (p_.floor_frames > 1) {
          fh.push_back(e);
          if (static_cast<int>(fh.size()) > p_.floor_frames - 1) fh.pop_front();
        }
      }
      excess[i] = got[i] ? std::max(v[i] - floor[i], 0.0) : 0.0;
      // Leakage spread of the excess: the maximum over the last spread_frames frames (missing frames: 0).
      auto& sh = spread_hist_[i];
      double s = excess[i];
      for (double h : sh) s = std::max(s, h);
      spread[i] = s;
      if (p_.spread_frames > 1) {
        sh.push_back(excess[i]);
        sh.pop_front();
      }
      ok[i] = got[i] && full[at] <= p_.max_tilt * v[i];
      e_db[i] = to_db(v[i]);
      f_db[i] = to_db(full[at]);
      fl_db[i] = to_db(floor[i]);
    }
    known.clear();
    for (int i = 0; i < c; ++i)
      if (lv.has_level[i]) known.push_back(lv.level_db[i]);
    double typical = p_.nominal_db;
    if (!known.empty()) {
      std::sort(known.begin(), known.end());
      const std::size_t h = known.size() / 2;
      typical = known.size() % 2 ? known[h] : (known[h - 1] + known[h]) / 2.0;
    }
    for (int i = 0; i < c; ++i) {
      level[i] = lv.has_level[i] ? lv.level_db[i] : typical;
      loudness[i] = f_db[i] - level[i];
    }
    // a channel that is background (far below the meeting) is nobody's voice: it leaks nowhere
    for (int i = 0; i < c; ++i) src[i] = lv.relevant[i] ? spread[i] : 0.0;
    auto gate_sure = [&] {
      leakage(gain_, src.data(), leak.data());
      for (int i = 0; i < c; ++i) {
        sure[i] = ok[i] && v[i] > p_.margin * (floor[i] + leak[i]);
        clear[i] = sure[i] && v[i] > p_.clear * floor[i];
      }
    };
    gate_sure();
    // a channel that is background (far below the meeting) is nobody's voice: it teaches no coupling
    for (int i = 0; i < c; ++i) teach[i] = clear[i] && lv.relevant[i];
    if (c >= 2 && learn(excess.data(), got.data(), teach.data(), loudness.data())) gate_sure();
    for (int i = 0; i < c; ++i) {
      const std::int64_t at = i * n + k;
      snr[at] = lv.has_level[i] ? lv.voice_level_db[i] - fl_db[i] : std::numeric_limits<double>::infinity();
      const bool held = lv.has_level[i] && frame_ - last_sure_[i] <= p_.hold_frames;
      const double fm = held ? std::pow(10.0, interp(snr[at], p_.snr_low_db, p_.snr_full_db, p_.floor_margin_low_db,
                                                     p_.floor_margin_db) / 10.0)
                             : full_floor_margin_;
      const bool maybe = ok[i] && v[i] > fm * floor[i] + p_.margin * leak[i];
      const bool loud_bg = lv.has_background[i] && lv.has_level[i] &&
                           lv.background_db[i] > lv.voice_level_db[i] - p_.bg_range_db &&
                           lv.background_db[i] > fl_db[i] + p_.bg_floor_gap_db;
      const bool above_bg = !loud_bg || e_db[i] > lv.background_db[i] + p_.bg_margin_db;
      cand[at] = maybe && above_bg;
      if (cand[at]) gain[at] = std::pow(10.0, std::min(p_.nominal_db - level[i], p_.max_gain_db) / 20.0);
      // what the lowered margin may continue: a candidate by the full margin
      if (ok[i] && v[i] > full_floor_margin_ * floor[i] + p_.margin * leak[i] && above_bg) last_sure_[i] = frame_;
    }
    // what the channel carries while others talk (only then is it recorded), less what a tight coupling
    // explains of it
    bool talk = false;
    for (int j = 0; j < c && !talk; ++j) talk = clear[j] && lv.relevant[j];
    if (talk) {
      leakage(tight_gain_, src.data(), tight.data());
      for (int i = 0; i < c; ++i) {
        const double residual = v[i] - tight[i];
        bg_db[i] = residual > floor[i] ? to_db(residual) : std::min(e_db[i], fl_db[i]);
      }
    }
    levels_.update(f_db.data(), e_db.data(), sure.data(), clear.data(), bg_db.data());
  }
}

}  // namespace rollcall
