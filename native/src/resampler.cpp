#include "resampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace rollcall {
namespace {

double bessel_i0(double x) {
  // Power series; converges quickly for the beta values used by window design.
  double sum = 1.0, term = 1.0;
  const double q = x * x / 4.0;
  for (int k = 1; k < 64; ++k) {
    term *= q / (static_cast<double>(k) * static_cast<double>(k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

std::vector<float> design_lowpass(int up, int down) {
  const int max_rate = std::max(up, down);
  const int half_len = 10 * max_rate;
  const int n = 2 * half_len + 1;
  const double cutoff = 1.0 / max_rate;  // fraction of Nyquist at the upsampled rate
  const double beta = 5.0;
  const double i0_beta = bessel_i0(beta);
  std::vector<double> h(static_cast<std::size_t>(n));
  double sum = 0.0;
  for (int k = 0; k < n; ++k) {
    const double m = k - half_len;
    const double arg = cutoff * m;
    const double sinc = (m == 0) ? 1.0 : std::sin(M_PI * arg) / (M_PI * arg);
    const double r = 2.0 * k / (n - 1) - 1.0;
    const double w = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
    h[static_cast<std::size_t>(k)] = cutoff * sinc * w;
    sum += h[static_cast<std::size_t>(k)];
  }
  std::vector<float> taps(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    taps[static_cast<std::size_t>(k)] = static_cast<float>(h[static_cast<std::size_t>(k)] / sum * up);
  }
  return taps;
}

template <std::size_t D>
void deinterleave(const float* x, std::size_t len, float* rows, std::size_t rows_len) {
  const std::size_t whole = len / D;
  for (std::size_t k = 0; k < whole; ++k) {
    for (std::size_t p = 0; p < D; ++p) rows[p * rows_len + k] = x[k * D + p];
  }
  for (std::size_t q = whole * D; q < len; ++q) rows[(q % D) * rows_len + q / D] = x[q];
}

}  // namespace

Resampler::Resampler(int in_rate, int out_rate) : in_rate_(in_rate), out_rate_(out_rate) {
  if (in_rate <= 0 || out_rate <= 0) {
    throw std::invalid_argument("sample rates must be positive, got " + std::to_string(in_rate) +
                                " -> " + std::to_string(out_rate));
  }
  const int g = std::gcd(in_rate, out_rate);
  up_ = out_rate / g;
  down_ = in_rate / g;
  taps_ = design_lowpass(up_, down_);
  phase_len_ = (taps_.size() + static_cast<std::size_t>(up_) - 1) / static_cast<std::size_t>(up_);
  phases_.assign(static_cast<std::size_t>(up_), std::vector<float>(phase_len_, 0.0f));
  for (std::size_t p = 0; p < static_cast<std::size_t>(up_); ++p) {
    for (std::size_t i = 0; i < phase_len_; ++i) {
      const std::size_t k = p + i * static_cast<std::size_t>(up_);
      // Reversed so that the dot product runs forward over the input history.
      phases_[p][phase_len_ - 1 - i] = k < taps_.size() ? taps_[k] : 0.0f;
    }
  }
  const float peak = *std::max_element(taps_.begin(), taps_.end());
  for (std::size_t k = 0; k <= taps_.size() / 2; ++k) {  // the filter is symmetric: taps[k] == taps[L-1-k]
    if (std::fabs(taps_[k]) > 1e-7f * peak) pairs_.push_back({k, taps_.size() - 1 - k, taps_[k]});
  }
  // The filter is symmetric with its centre at half_len upsampled samples.
  const std::int64_t half_len = static_cast<std::int64_t>(taps_.size() / 2);
  delay_ = half_len / down_;
  reset();
}

void Resampler::reset() {
  hist_.assign(phase_len_ - 1, 0.0f);
  consumed_ = 0;
  produced_ = 0;
  // Start so that the first kept output (after discarding delay_) lines up with input sample 0.
  const std::int64_t half_len = static_cast<std::int64_t>(taps_.size() / 2);
  next_up_index_ = half_len - delay_ * down_;
  emitted_ = 0;
}

void Resampler::run(const float* in, std::size_t n, std::vector<float>& out) {
  // hist_ holds the keep = phase_len_-1 inputs before `in`; append the new input after them.
  const std::size_t keep = phase_len_ - 1;
  hist_.resize(keep + n);
  std::copy(in, in + n, hist_.begin() + static_cast<std::ptrdiff_t>(keep));
  const std::int64_t first_input = consumed_ - static_cast<std::int64_t>(keep);  // input index of hist_[0]
  consumed_ += static_cast<std::int64_t>(n);
  // The output at upsampled index j uses inputs x[j/up - i], i in [0, phase_len), with phase j % up;
  // it is ready once its newest input has arrived: j/up < consumed_.
  const std::int64_t limit = consumed_ * up_;
  std::int64_t j = next_up_index_;
  const std::int64_t count = j < limit ? (limit - j + down_ - 1) / down_ : 0;
  // Outputs are written straight into `out`; the ones that only cover the filter's group delay after a
  // reset are removed again below.
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(count));
  float* y = out.data() + at;
  if (up_ == 1) {
    decimate(j - first_input, static_cast<std::size_t>(count), y);
  } else {
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t jj = j + k * down_;
      const float* x = hist_.data() + (jj / up_ - static_cast<std::int64_t>(keep) - first_input);
      const float* h = phases_[static_cast<std::size_t>(jj % up_)].data();
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (std::size_t i = 0; i < phase_len_; ++i) acc += h[i] * x[i];
      y[k] = acc;
    }
  }
  j += count * down_;
  const std::int64_t skip = std::clamp<std::int64_t>(delay_ - produced_, 0, count);
  if (skip > 0) out.erase(out.begin() + static_cast<std::ptrdiff_t>(at), out.begin() + static_cast<std::ptrdiff_t>(at) + skip);
  produced_ += count;
  emitted_ += count - skip;
  next_up_index_ = j;
  std::copy(hist_.end() - static_cast<std::ptrdiff_t>(keep), hist_.end(), hist_.begin());
  hist_.resize(keep);
}

__attribute__((target_clones("avx2", "default")))
void Resampler::decimate(std::int64_t newest0, std::size_t count, float* y) {
  // Integer-factor decimation: output k = sum_i taps[i] * hist[newest0 + k*down - i]. Split hist_ into
  // `down` polyphase rows so that every tap is a contiguous multiply-add over all outputs (which
  // vectorises); the symmetric taps share one multiply, and the zero taps (every down-th one of a
  // windowed-sinc low-pass) are skipped.
  if (count == 0) return;
  const auto down = static_cast<std::size_t>(down_);
  const std::size_t len = hist_.size();
  const std::size_t rows_len = len / down + 1;
  poly_.resize(down * rows_len);
  for (std::size_t p = 0; p < down; ++p) {  // the rows' last slots that no input reaches
    if ((rows_len - 1) * down + p >= len) poly_[p * rows_len + rows_len - 1] = 0.0f;
  }
  switch (down) {  // constant strides let the compiler vectorise the split
    case 2: deinterleave<2>(hist_.data(), len, poly_.data(), rows_len); break;
    case 3: deinterleave<3>(hist_.data(), len, poly_.data(), rows_len); break;
    default:
      for (std::size_t q = 0; q < len; ++q) poly_[(q % down) * rows_len + q / down] = hist_[q];
  }
  auto row = [&](std::size_t i) {
    const auto q = static_cast<std::size_t>(newest0 - static_cast<std::int64_t>(i));
    return poly_.data() + (q % down) * rows_len + q / down;
  };
  bool first = true;
  for (const auto& [i, i2, coef] : pairs_) {
    const float* a = row(i);
    const float* b = row(i2);
    const float w = i == i2 ? 0.0f : 1.0f;  // the centre tap has no mirror
    if (first) {
#pragma omp simd
      for (std::size_t k = 0; k < count; ++k) y[k] = coef * (a[k] + w * b[k]);
      first = false;
    } else {
#pragma omp simd
      for (std::size_t k = 0; k < count; ++k) y[k] += coef * (a[k] + w * b[k]);
    }
  }
}

void Resampler::process(const float* in, std::size_t n, std::vector<float>& out) {
  if (n == 0) return;
  run(in, n, out);
}

void Resampler::flush(std::vector<float>& out) {
  // Total outputs owed for consumed_ inputs: ceil(consumed_ * up / down), as resample_poly gives.
  const std::int64_t owed = (consumed_ * up_ + down_ - 1) / down_;
  const std::vector<float> zeros(static_cast<std::size_t>(down_), 0.0f);
  while (emitted_ < owed) run(zeros.data(), zeros.size(), out);
  if (emitted_ > owed) out.resize(out.size() - static_cast<std::size_t>(emitted_ - owed));
  reset();
}

}  // namespace rollcall
