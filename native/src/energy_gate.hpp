// The talk detector's energy gate, frame by frame: which frames of which participants could be their own
// voice, and at what gain webrtcvad should see them. The same arithmetic as the numpy reference in
// analysis/energy_gate.py (see there for the why); this one is fast enough to run on every drain.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "levels.hpp"

namespace rollcall {

// What analysis.energy_gate.GateParams holds (frames, linear energy ratios, dB).
struct GateParams {
  int floor_frames, spread_frames;
  double margin, max_tilt, clear, quantile, prior_db, prior_weight, cap;
  double level_quantile, min_level, min_background, range_db, audible_db, level_cap;
  double floor_margin_db, floor_margin_low_db, snr_full_db, snr_low_db;
  int hold_frames;
  double bg_margin_db, bg_range_db, bg_floor_gap_db, nominal_db, max_gain_db, tight_db;
};

class EnergyGate {
 public:
  static constexpr int kBins = 131;  // coupling histogram: -90 .. +40 dB in 1 dB bins
  static constexpr double kBinLoDb = -90.0;
  static constexpr double kEnergyEps = 1e-10;

  explicit EnergyGate(const GateParams& p);

  int add_channel();
  int channels() const { return static_cast<int>(floor_hist_.size()); }

  // voice, full: [channels, n] row-major; present: [channels, n]; out, each [channels, n]: cand, the
  // amplitude gain for webrtcvad, and the channel's speech-to-floor ratio (dB; +inf before it has a level).
  void process(const double* voice, const double* full, const std::uint8_t* present, std::int64_t n,
               std::uint8_t* cand, double* gain, double* snr);

  // Coupling gains [channels, channels] (linear; row i = into channel i).
  const std::vector<double>& gains() const { return gain_; }
  const ChannelLevels& levels() const { return levels_; }
  // Per channel: candidate frames so far, and how many had a sample at full scale.
  std::vector<std::int64_t> frames, clipped;
  // The floor each channel's next frame would be measured against (+inf before any frame), dB.
  std::vector<double> floor_db() const;

 private:
  using Hist = std::array<double, kBins>;
  // Predicted leakage into every channel from the sources' spread energies, through `gains` (gain_ or
  // tight_gain_).
  void leakage(const std::vector<double>& gains, const double* spread, double* leak) const;
  bool learn(const double* x, const std::uint8_t* present, const std::uint8_t* clear, const double* loudness);
  void refresh_pair(int i, int j);

  GateParams p_;
  int prior_bin_;
  double full_floor_margin_;  // 10^(floor_margin_db / 10)
  std::int64_t frame_ = 0;  // frames processed so far
  std::vector<std::deque<double>> floor_hist_;  // per channel: the last floor_frames-1 received energies
  std::vector<std::deque<double>> spread_hist_;  // per channel: the last spread_frames-1 excess energies
  std::vector<std::int64_t> last_sure_;  // per channel: the last sure frame
  std::vector<Hist> hist_;  // [i * C + j]: ratio histogram of the coupling j -> i
  // [i * C + j]: the first and last bins ever counted; sums and scans skip the zeros outside (adding zeros
  // changes no bit, so the results are those of a scan over every bin)
  std::vector<std::pair<int, int>> span_;
  std::vector<double> gain_;  // [i * C + j]
  std::vector<double> tight_gain_;  // [i * C + j]: gain_ where the pair is tight (an acoustic path), else 0
  std::vector<int> touched_;  // pairs updated by the current frame
  ChannelLevels levels_;
};

}  // namespace rollcall
