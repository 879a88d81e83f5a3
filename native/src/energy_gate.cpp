#include "energy_gate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rollcall {

EnergyGate::EnergyGate(int floor_frames, int spread_frames, double margin, double max_tilt, double clear,
                       double quantile, double prior_db, double prior_weight, double cap)
    : floor_frames_(std::max(1, floor_frames)),
      spread_frames_(std::max(1, spread_frames)),
      margin_(margin),
      max_tilt_(max_tilt),
      clear_(clear),
      quantile_(quantile),
      prior_weight_(prior_weight),
      cap_(cap),
      prior_bin_(static_cast<int>(std::clamp(std::nearbyint(prior_db - kBinLoDb), 0.0, double(kBins - 1)))) {}

int EnergyGate::add_channel() {
  const int n = channels();
  const int c = n + 1;
  std::vector<Hist> hist(static_cast<std::size_t>(c) * c, Hist{});
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) hist[i * c + j] = hist_[i * n + j];
  for (int k = 0; k < c; ++k) {
    hist[n * c + k][prior_bin_] += prior_weight_;
    hist[k * c + n][prior_bin_] += prior_weight_;
  }
  hist[n * c + n].fill(0.0);
  hist_ = std::move(hist);
  floor_hist_.emplace_back();
  spread_hist_.emplace_back(static_cast<std::size_t>(spread_frames_ - 1), 0.0);
  gain_.assign(static_cast<std::size_t>(c) * c, 0.0);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j) refresh_pair(i, j);
  return n;
}

// The coupling gain of j -> i: the bin centre where the histogram's cumulative share first reaches the
// quantile, capped at 0 dB.
void EnergyGate::refresh_pair(int i, int j) {
  const int c = channels();
  const Hist& h = hist_[i * c + j];
  double tot = 0.0;
  for (double x : h) tot += x;
  double g = 0.0;
  if (i != j && tot > 0.0) {
    double cum = 0.0;
    int b = 0;
    for (int k = 0; k < kBins; ++k) {
      cum += h[k];
      if (cum / tot >= quantile_) {
        b = k;
        break;
      }
    }
    g = std::min(1.0, std::pow(10.0, (kBinLoDb + b + 0.5) / 10.0));
  }
  gain_[i * c + j] = g;
}

void EnergyGate::gate(const double* v, const double* floor, const double* spread, const std::uint8_t* plausible,
                      std::uint8_t* out) const {
  const int c = channels();
  for (int i = 0; i < c; ++i) {
    double leak = 0.0;
    for (int j = 0; j < c; ++j) leak += gain_[i * c + j] * spread[j];
    out[i] = plausible[i] && v[i] > margin_ * (floor[i] + leak);
  }
}

bool EnergyGate::learn(const double* v, const std::uint8_t* present, const double* floor, const std::uint8_t* cand) {
  const int c = channels();
  touched_.clear();
  for (int j = 0; j < c; ++j) {
    if (!(cand[j] && v[j] > clear_ * floor[j])) continue;
    const double db_j = 10.0 * std::log10(std::max(v[j], kEnergyEps));
    for (int i = 0; i < c; ++i) {
      if (i == j || !present[i] || !(v[j] > v[i])) continue;
      const double ratio_db = 10.0 * std::log10(std::max(v[i], kEnergyEps)) - db_j;
      const double bin = std::clamp(std::nearbyint(ratio_db - kBinLoDb - 0.5), 0.0, double(kBins - 1));
      hist_[i * c + j][static_cast<int>(bin)] += 1.0;
      touched_.push_back(i * c + j);
    }
  }
  // Only the pairs just updated can have passed the cap or changed their gain.
  for (int p : touched_) {
    Hist& h = hist_[p];
    double tot = 0.0;
    for (double x : h) tot += x;
    if (tot > cap_)
      for (double& x : h) x *= 0.5;
    refresh_pair(p / c, p % c);
  }
  return !touched_.empty();
}

void EnergyGate::process(const double* voice, const double* full, const std::uint8_t* present, std::int64_t n,
                         std::uint8_t* cand) {
  const int c = channels();
  std::vector<double> v(c), floor(c), spread(c);
  std::vector<std::uint8_t> got(c), plausible(c), out(c);
  for (std::int64_t k = 0; k < n; ++k) {
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
        for (double x : fh) m = std::min(m, x);
        floor[i] = m;
        if (floor_frames_ > 1) {
          fh.push_back(e);
          if (static_cast<int>(fh.size()) > floor_frames_ - 1) fh.pop_front();
        }
      }
      // Leakage spread: the maximum over the last spread_frames frames (a missing frame counts as 0).
      auto& sh = spread_hist_[i];
      double s = v[i];
      for (double x : sh) s = std::max(s, x);
      spread[i] = s;
      if (spread_frames_ > 1) {
        sh.push_back(v[i]);
        sh.pop_front();
      }
      plausible[i] = got[i] && full[at] <= max_tilt_ * v[i];
    }
    gate(v.data(), floor.data(), spread.data(), plausible.data(), out.data());
    if (c >= 2 && learn(v.data(), got.data(), floor.data(), out.data()))
      gate(v.data(), floor.data(), spread.data(), plausible.data(), out.data());
    for (int i = 0; i < c; ++i) cand[i * n + k] = out[i];
  }
}

}  // namespace rollcall
