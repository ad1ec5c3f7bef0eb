// SQ8: 8-bit scalar quantisation of float32 vectors, per dimension. Training picks each
// dimension's range [lo, hi] from quantiles of a sample (robust to a few outliers), encoding
// stores c = clamp(round((x - lo) / scale), 0, 255) with scale = (hi - lo) / 255, and a code
// is read back as lo + scale * c. The distance kernels (distance/distance.hpp, sq8_*) compare a
// float32 query with codes; the query helpers below prepare it once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mcindex {

struct Sq8Params {
  std::vector<float> lo;     // per dimension
  std::vector<float> scale;  // per dimension, > 0
};

struct Sq8TrainOptions {
  // Rows looked at: all when n <= sample (or sample == 0), else a uniform random subset of
  // `sample` rows without replacement, drawn from `seed` (the same rows on every platform).
  std::size_t sample = 100000;
  std::uint64_t seed = 0;
  // Quantiles that become lo and hi (nearest rank over the sampled values of a dimension).
  double lower = 0.001;
  double upper = 0.999;
  int threads = 0;  // 0: the OpenMP default
  // Optional, n bytes: rows with a nonzero byte are left out (the rows a first round misplaced).
  const std::uint8_t* exclude = nullptr;
};

// lo and scale of every dimension of n rows (row i at data + i * stride, stride >= dim), which
// must be finite; n > 0. A dimension whose range is empty or tiny for its magnitude (a constant
// one) gets a tiny positive scale, max(|lo|, |hi|) * 2^-20 / 255 + 2^-100 / 255, so it encodes
// every value near lo as 0 and reads it back as lo exactly.
Sq8Params train_sq8(const float* data, std::size_t n, std::size_t dim, std::size_t stride,
                    const Sq8TrainOptions& options = {});

// One code: (x - lo) / scale, clamped to [0, 255] (NaN to 0), rounded half up.
inline std::uint8_t sq8_code(float x, float lo, float scale) {
  float t = (x - lo) / scale;
  t = t > 0.0f ? t : 0.0f;  // also NaN -> 0
  t = t < 255.0f ? t : 255.0f;
  const int whole = static_cast<int>(t);               // floor: t >= 0
  const float frac = t - static_cast<float>(whole);    // exact
  return static_cast<std::uint8_t>(whole + (frac >= 0.5f ? 1 : 0));
}

// Codes of n rows into codes + i * code_stride (code_stride >= dim), in parallel over rows; with
// `miss`, each row's squared L2 (in double) to its code's reconstruction as the kernels decode it.
void encode_sq8(const float* data, std::size_t n, std::size_t dim, std::size_t stride,
                const float* lo, const float* scale, std::uint8_t* codes, std::size_t code_stride,
                int threads = 0, double* miss = nullptr);

// ---- a float32 query, prepared once for the kernels --------------------------------------------
// For sq8_l2 / sq8_l2_batch: q - lo.
inline void sq8_prepare_l2(const float* q, const float* lo, std::size_t dim, float* q_minus_lo) {
  for (std::size_t i = 0; i < dim; ++i) q_minus_lo[i] = q[i] - lo[i];
}

// For sq8_dot / sq8_dot_batch: w = q * scale; returns sum q * lo (summed in double), which the
// caller adds to the kernel's value to get the inner product with the reconstruction.
inline float sq8_prepare_dot(const float* q, const float* lo, const float* scale, std::size_t dim,
                             float* w) {
  double offset = 0.0;
  for (std::size_t i = 0; i < dim; ++i) {
    w[i] = q[i] * scale[i];
    offset += static_cast<double>(q[i]) * lo[i];
  }
  return static_cast<float>(offset);
}

}  // namespace mcindex
