#include "levels.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace rollcall {

ChannelLevels::ChannelLevels(double level_quantile, double min_level, double min_background, double range_db,
                             double audible_db, double cap)
    : level_quantile_(level_quantile),
      min_level_(min_level),
      min_background_(min_background),
      range_db_(range_db),
      audible_db_(audible_db),
      cap_(cap) {}

void ChannelLevels::add_channel() {
  level_.emplace_back();
  voice_.emplace_back();
  bg_.emplace_back();
  level_db.push_back(0.0);
  voice_level_db.push_back(0.0);
  background_db.push_back(0.0);
  has_level.push_back(0);
  has_background.push_back(0);
  relevant.push_back(1);
  refresh(channels() - 1, true, true);
  refresh_relevance();
}

int ChannelLevels::bin(double db) {
  return static_cast<int>(std::clamp(std::floor(db - kBinLoDb), 0.0, double(kBins - 1)));
}

// The centre of the first bin where the cumulative share reaches q (the first bin of an empty histogram).
double ChannelLevels::quantile_db(const Counted& c, double q) {
  int b = 0;
  if (c.total > 0.0) {
    const double target = q * c.total;
    double cum = 0.0;
    for (int k = target > 0.0 ? c.lo : 0; k < kBins; ++k) {
      cum += c.h[k];
      if (cum >= target) {
        b = k;
        break;
      }
    }
  }
  return kBinLoDb + b + 0.5;
}

// One count more; halved when over the cap (so the histogram follows changes).
void ChannelLevels::add(Counted& c, int b) {
  c.h[b] += 1.0;
  c.lo = std::min(c.lo, b);
  c.total += 1.0;  // counts and their halves are exact in binary: the same as the reference's re-summed total
  if (c.total > cap_) {
    for (double& x : c.h) x *= 0.5;
    c.total *= 0.5;
  }
}

void ChannelLevels::refresh(int i, bool levels, bool background) {
  if (levels) {
    has_level[i] = level_[i].total >= min_level_;
    level_db[i] = quantile_db(level_[i], level_quantile_);
    voice_level_db[i] = quantile_db(voice_[i], level_quantile_);
  }
  if (background) {
    has_background[i] = bg_[i].total >= min_background_;
    background_db[i] = quantile_db(bg_[i], 0.5);
  }
}

void ChannelLevels::refresh_relevance() {
  const int c = channels();
  double first = -std::numeric_limits<double>::infinity(), second = first;
  int known = 0;
  for (int i = 0; i < c; ++i) {
    if (!has_level[i]) continue;
    ++known;
    if (level_db[i] > first) {
      second = first;
      first = level_db[i];
    } else if (level_db[i] > second) {
      second = level_db[i];
    }
  }
  // The meeting's loud end: the loudest participant, or the second loudest of three or more.
  reference_db = known >= 3 ? second : known ? first : std::numeric_limits<double>::infinity();
  for (int i = 0; i < c; ++i)
    relevant[i] = !has_level[i] || (level_db[i] >= reference_db - range_db_ && level_db[i] >= audible_db_);
}

void ChannelLevels::update(const double* full_db, const double* voice_db, const std::uint8_t* own,
                           const std::uint8_t* clear, const double* background_db) {
  const int c = channels();
  bool levels_changed = false;
  int talkers = 0, talker = -1;
  for (int j = 0; j < c; ++j)
    if (clear[j] && relevant[j]) ++talkers, talker = j;
  for (int i = 0; i < c; ++i) {
    if (own[i]) {
      add(level_[i], bin(full_db[i]));
      add(voice_[i], bin(voice_db[i]));
      levels_changed = true;
    }
    const bool background = talkers > 1 || (talkers == 1 && talker != i);  // someone other than i talks
    if (background) add(bg_[i], bin(background_db[i]));
    if (own[i] || background) refresh(i, own[i], background);
  }
  if (levels_changed) refresh_relevance();
}

}  // namespace rollcall
