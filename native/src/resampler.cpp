#include "resampler.hpp"

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
  // hist_ holds the phase_len_-1 samples before `in`; append the new input after them.
  const std::size_t base = hist_.size();
  hist_.insert(hist_.end(), in, in + n);
  consumed_ += static_cast<std::int64_t>(n);
  // Output at upsampled index j uses inputs x[j/up - i], i in [0, phase_len), with phase j % up.
  const std::int64_t up = up_;
  while (true) {
    const std::int64_t j = next_up_index_;
    const std::int64_t newest = j / up;  // newest input index used
    if (newest >= consumed_) break;
    // Position of input `newest` in hist_: inputs consumed_-n.. map to base..; hist_ starts at
    // input index consumed_ - n - base.
    const std::int64_t first_input = consumed_ - static_cast<std::int64_t>(n) - static_cast<std::int64_t>(base);
    const std::int64_t start = newest - static_cast<std::int64_t>(phase_len_) + 1 - first_input;
    const float* x = hist_.data() + start;
    const float* h = phases_[static_cast<std::size_t>(j % up)].data();
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (std::size_t i = 0; i < phase_len_; ++i) acc += h[i] * x[i];
    if (produced_ >= delay_) {
      out.push_back(acc);
      ++emitted_;
    }
    ++produced_;
    next_up_index_ += down_;
  }
  // Keep only the history the next call needs.
  const std::size_t keep = phase_len_ - 1;
  hist_.erase(hist_.begin(), hist_.end() - static_cast<std::ptrdiff_t>(keep));
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
