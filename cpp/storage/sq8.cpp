#include "storage/sq8.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>

namespace mcindex {
namespace {

// Rows to train on, ascending: all of them, or `sample` drawn without replacement by selection
// sampling (Knuth's algorithm S), which reads the data in order.
std::vector<std::size_t> sample_rows(std::size_t n, std::size_t sample, std::uint64_t seed) {
  std::vector<std::size_t> rows;
  if (sample == 0 || n <= sample) {
    rows.resize(n);
    for (std::size_t i = 0; i < n; ++i) rows[i] = i;
    return rows;
  }
  rows.reserve(sample);
  std::mt19937_64 rng(seed);
  std::size_t needed = sample;
  for (std::size_t i = 0; i < n && needed > 0; ++i) {
    if (rng() % (n - i) < needed) {  // modulo bias at most n / 2^64
      rows.push_back(i);
      --needed;
    }
  }
  return rows;
}

// Dimensions are trained in blocks of this many: a block's columns are gathered from 64-byte
// pieces of the sampled rows (a column at a time would read a cache line per value).
constexpr std::size_t kDimBlock = 16;

}  // namespace

Sq8Params train_sq8(const float* data, std::size_t n, std::size_t dim, std::size_t stride,
                    const Sq8TrainOptions& options) {
  if (n == 0 || dim == 0) throw std::invalid_argument("train_sq8: no rows or no dimensions");
  if (stride < dim) throw std::invalid_argument("train_sq8: stride < dim");
  if (!(options.lower >= 0.0 && options.lower <= options.upper && options.upper <= 1.0))
    throw std::invalid_argument("train_sq8: need 0 <= lower <= upper <= 1");
  std::vector<std::size_t> rows;
  if (options.exclude == nullptr) {
    rows = sample_rows(n, options.sample, options.seed);
  } else {
    std::vector<std::size_t> kept;
    for (std::size_t i = 0; i < n; ++i)
      if (options.exclude[i] == 0) kept.push_back(i);
    if (kept.empty()) throw std::invalid_argument("train_sq8: every row is excluded");
    rows = sample_rows(kept.size(), options.sample, options.seed);
    for (std::size_t& r : rows) r = kept[r];
  }
  const std::size_t m = rows.size();
  // Nearest rank: at m = 100k the 0.1% / 99.9% quantiles leave out 100 values at each end.
  const auto rank = [m](double q) {
    return std::min(m - 1, static_cast<std::size_t>(std::llround(q * static_cast<double>(m - 1))));
  };
  const std::size_t k_lo = rank(options.lower), k_hi = std::max(k_lo, rank(options.upper));

  Sq8Params p;
  p.lo.resize(dim);
  p.scale.resize(dim);
  const std::size_t n_blocks = (dim + kDimBlock - 1) / kDimBlock;
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  const int team = std::max(1, std::min(threads, static_cast<int>(n_blocks)));
  // The columns are allocated here, not in the workers: memory a worker thread allocates lives in
  // its own malloc arena, which keeps it after the build (malloc_trim does not give it back).
  std::vector<float> columns(static_cast<std::size_t>(team) * m * kDimBlock);
#pragma omp parallel num_threads(team)
  {
    float* const column = columns.data() + static_cast<std::size_t>(omp_get_thread_num()) * m * kDimBlock;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < static_cast<std::int64_t>(n_blocks); ++b) {
      const std::size_t d0 = static_cast<std::size_t>(b) * kDimBlock;
      const std::size_t width = std::min(kDimBlock, dim - d0);
      for (std::size_t r = 0; r < m; ++r) {
        const float* x = data + rows[r] * stride + d0;
        for (std::size_t j = 0; j < width; ++j) column[j * m + r] = x[j];
      }
      for (std::size_t j = 0; j < width; ++j) {
        float* v = column + j * m;
        std::nth_element(v, v + k_lo, v + m);
        const float lo = v[k_lo];
        std::nth_element(v + k_lo, v + k_hi, v + m);  // everything past k_lo is >= lo already
        const float hi = v[k_hi];
        // In double: hi - lo of two huge floats of opposite sign overflows float.
        const double magnitude = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
        const double floor = magnitude * 0x1p-20 + 0x1p-100;
        const double range = std::max(static_cast<double>(hi) - static_cast<double>(lo), floor);
        p.lo[d0 + j] = lo;
        p.scale[d0 + j] = static_cast<float>(range / 255.0);
      }
    }
  }
  return p;
}

void encode_sq8(const float* data, std::size_t n, std::size_t dim, std::size_t stride,
                const float* lo, const float* scale, std::uint8_t* codes, std::size_t code_stride,
                int threads, double* miss) {
  if (stride < dim || code_stride < dim) throw std::invalid_argument("encode_sq8: stride < dim");
  const int t = threads > 0 ? threads : omp_get_max_threads();
  // Threads only pay off past a few hundred thousand values.
#pragma omp parallel for schedule(static) num_threads(t) if (n * dim >= (std::size_t{1} << 18))
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(n); ++r) {
    const float* x = data + static_cast<std::size_t>(r) * stride;
    std::uint8_t* c = codes + static_cast<std::size_t>(r) * code_stride;
    for (std::size_t d = 0; d < dim; ++d) c[d] = sq8_code(x[d], lo[d], scale[d]);
    if (miss != nullptr) {
      double sum = 0.0;
      for (std::size_t d = 0; d < dim; ++d) {
        const float rec = static_cast<float>(c[d]) * scale[d] + lo[d];
        const double diff = static_cast<double>(rec) - static_cast<double>(x[d]);
        sum += diff * diff;
      }
      miss[r] = sum;
    }
  }
}

}  // namespace mcindex
