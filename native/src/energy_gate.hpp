// The talk detector's energy gate, frame by frame: which frames of which participants could be their own
// voice, before webrtcvad looks at them. The same arithmetic as the numpy reference in
// analysis/energy_gate.py (see there for the why); this one is fast enough to run on every drain.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

namespace rollcall {

class EnergyGate {
 public:
  static constexpr int kBins = 131;  // coupling histogram: -90 .. +40 dB in 1 dB bins
  static constexpr double kBinLoDb = -90.0;
  static constexpr double kEnergyEps = 1e-10;

  EnergyGate(int floor_frames, int spread_frames, double margin, double max_tilt, double clear, double quantile,
             double prior_db, double prior_weight, double cap);

  int add_channel();
  int channels() const { return static_cast<int>(floor_hist_.size()); }

  // voice, full: [channels, n] row-major; present: [channels, n]; cand (out): [channels, n].
  void process(const double* voice, const double* full, const std::uint8_t* present, std::int64_t n,
               std::uint8_t* cand);

  // Coupling gains [channels, channels] (linear; row i = into channel i).
  const std::vector<double>& gains() const { return gain_; }

 private:
  using Hist = std::array<double, kBins>;
  void gate(const double* v, const double* floor, const double* spread, const std::uint8_t* plausible,
            std::uint8_t* out) const;
  bool learn(const double* v, const std::uint8_t* present, const double* floor, const std::uint8_t* cand);
  void refresh_pair(int i, int j);

  int floor_frames_, spread_frames_;
  double margin_, max_tilt_, clear_, quantile_, prior_weight_, cap_;
  int prior_bin_;
  std::vector<std::deque<double>> floor_hist_;  // per channel: the last floor_frames-1 received energies
  std::vector<std::deque<double>> spread_hist_;  // per channel: the last spread_frames-1 energies (0: missing)
  std::vector<Hist> hist_;  // [i * C + j]: ratio histogram of the coupling j -> i
  std::vector<double> gain_;  // [i * C + j]
  std::vector<int> touched_;  // pairs updated by the current frame
};

}  // namespace rollcall
