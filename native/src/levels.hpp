// Each participant's speech level, background while others talk, and relevance: the same arithmetic as the
// numpy reference in analysis/levels.py (see there for the why).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace rollcall {

class ChannelLevels {
 public:
  static constexpr int kBins = 150;  // -140 .. +10 dB in 1 dB bins
  static constexpr double kBinLoDb = -140.0;

  ChannelLevels(double level_quantile, double min_level, double min_background, double range_db, double audible_db,
                double cap);

  void add_channel();
  int channels() const { return static_cast<int>(level_.size()); }

  // One frame of every channel (arrays of channels() values): `own` frames teach the speech levels; while
  // another relevant channel is `clear`, every channel teaches its background, `background_db` (a missing
  // frame: silence).
  void update(const double* full_db, const double* voice_db, const std::uint8_t* own, const std::uint8_t* clear,
              const double* background_db);

  std::vector<double> level_db, voice_level_db, background_db;
  std::vector<std::uint8_t> has_level, has_background, relevant;
  double reference_db = 0.0;  // the meeting's loud end

 private:
  using Hist = std::array<double, kBins>;
  struct Counted {  // a histogram with its running total
    Hist h{};
    double total = 0.0;
    int lo = kBins;  // the first bin ever counted: scans start here (the zeros before it add nothing)
  };
  void refresh(int i, bool levels, bool background);  // channel i's levels and/or background
  void refresh_relevance();
  static int bin(double db);
  static double quantile_db(const Counted& c, double q);
  void add(Counted& c, int b);

  double level_quantile_, min_level_, min_background_, range_db_, audible_db_, cap_;
  std::vector<Counted> level_, voice_, bg_;
};

}  // namespace rollcall
