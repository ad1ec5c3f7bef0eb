// How vectors are stored, and the one place that turns kernel output into a metric distance.
//
// Search and build never read vectors themselves: they hold a distance computer bound to one
// query (set_query), then ask for the distance to an id or to a batch of ids. FlatStorage keeps
// float32 rows; a second storage kind (quantised codes) adds its own computer and leaves the
// traversals as they are.
#pragma once

#include <cstddef>
#include <cstdint>

#include "distance/distance.hpp"

namespace mcindex {

// Kernel output (squared L2, or a dot product) as the metric's "smaller is closer" distance.
inline float finish(Metric m, float raw) {
  switch (m) {
    case Metric::L2: return raw;
    case Metric::IP: return -raw;
    case Metric::Cosine: return 1.0f - raw;
  }
  return raw;
}

// Row-major float32 vectors: row i starts at data + i * stride (stride >= dim). Cosine
// vectors are stored unit length, so cosine distance is 1 - dot.
struct FlatStorage {
  const float* data = nullptr;
  std::size_t n = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;
  Metric metric = Metric::L2;

  const float* row(std::size_t i) const { return data + i * stride; }
};

// Distances from one query to stored vectors, in the metric's form: what a search sees of the
// storage. A storage kind implements it once; the exact scan and the traversals call it.
class DistanceComputer {
 public:
  virtual ~DistanceComputer() = default;
  virtual void set_query(const float* q) = 0;
  virtual float operator()(std::uint32_t id) const = 0;
  // Rows ids[0..count) into out[0..count).
  virtual void batch(const std::uint32_t* ids, std::size_t count, float* out) const = 0;
  // Rows first .. first + count - 1, read in order (the exact scan).
  virtual void range(std::size_t first, std::size_t count, float* out) const = 0;
};

class FlatDistance final : public DistanceComputer {
 public:
  explicit FlatDistance(const FlatStorage& s) : s_(&s), kern_(&kernels()) {
    batch_ = s.metric == Metric::L2 ? kern_->l2sq_batch : kern_->dot_batch;
    one_ = s.metric == Metric::L2 ? kern_->l2sq : kern_->dot;
  }

  void set_query(const float* q) override { q_ = q; }

  float operator()(std::uint32_t id) const override { return finish(s_->metric, one_(q_, s_->row(id), s_->dim)); }

  // Gathered rows are prefetched ahead (at selective filters the cache misses on them, not
  // the arithmetic, decide the speed).
  void batch(const std::uint32_t* ids, std::size_t count, float* out) const override {
    if (count == 0) return;
    batch_(q_, s_->data, s_->stride, s_->dim, ids, count, out);
    finish_all(out, count);
  }

  void range(std::size_t first, std::size_t count, float* out) const override {
    if (count == 0) return;
    batch_(q_, s_->row(first), s_->stride, s_->dim, nullptr, count, out);
    finish_all(out, count);
  }

  // Between two stored rows (the build).
  float between(std::uint32_t a, std::uint32_t b) const {
    return finish(s_->metric, one_(s_->row(a), s_->row(b), s_->dim));
  }

  // Squared L2 between two stored rows, whatever the metric: the geometry of the clique cover
  // (on unit vectors, as stored for cosine, it equals 2 - 2 cos).
  float l2sq_between(std::uint32_t a, std::uint32_t b) const { return kern_->l2sq(s_->row(a), s_->row(b), s_->dim); }

  const FlatStorage& storage() const { return *s_; }

 private:
  void finish_all(float* out, std::size_t count) const {
    if (s_->metric == Metric::L2) return;
    const float offset = s_->metric == Metric::Cosine ? 1.0f : 0.0f;
    for (std::size_t j = 0; j < count; ++j) out[j] = offset - out[j];
  }

  const FlatStorage* s_;
  const DistanceKernels* kern_;
  BatchDistanceFn batch_;
  DistanceFn one_;
  const float* q_ = nullptr;
};

}  // namespace mcindex
