// What every build phase needs: the vectors, the metric, the thread count, and a callback that
// reports progress and asks whether to stop (Ctrl-C). Phases call it from thread 0 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>

#include "distance/distance.hpp"
#include "parallel.hpp"
#include "search/exact_search.hpp"

namespace mcindex {

// Returns false to cancel the build.
using ProgressFn = std::function<bool(const char* phase, std::size_t done, std::size_t total)>;

struct BuildCancelled : std::runtime_error {
  BuildCancelled() : std::runtime_error("build cancelled") {}
};

struct BuildContext {
  VectorView base;
  Metric metric = Metric::L2;
  int threads = 1;
  ProgressFn progress;  // may be empty
  const DistanceKernels* kern = &kernels();  // looked up once, not per distance

  float distance(std::size_t a, std::size_t b) const {
    return metric_distance(*kern, metric, base.row(a), base.row(b), base.dim);
  }
  float distance_to(const float* q, std::size_t b) const {
    return metric_distance(*kern, metric, q, base.row(b), base.dim);
  }
  // Distances from q to rows ids[0..count), in the metric's form.
  void distances_to(const float* q, const std::uint32_t* ids, std::size_t count, float* out) const {
    if (metric == Metric::L2) {
      kern->l2sq_batch(q, base.data, base.stride, base.dim, ids, count, out);
      return;
    }
    kern->dot_batch(q, base.data, base.stride, base.dim, ids, count, out);
    const float offset = metric == Metric::Cosine ? 1.0f : 0.0f;
    for (std::size_t j = 0; j < count; ++j) out[j] = offset - out[j];
  }
  // Squared L2: the geometry of the clique cover whatever the search metric
  // (on unit vectors, as stored for cosine, it equals 2 - 2 cos).
  float l2sq(std::size_t a, std::size_t b) const {
    return kern->l2sq(base.row(a), base.row(b), base.dim);
  }
  // Called from thread 0 only; returns false when the callback asks to stop (the caller then
  // stops its threads and throws BuildCancelled outside any parallel region).
  bool report(const char* phase, std::size_t done, std::size_t total) const {
    return !progress || progress(phase, done, total);
  }
};

}  // namespace mcindex
