// The second storage kind: 8-bit codes (storage/sq8.hpp trains and encodes them), a quarter of
// the bytes of float32 rows. Searches score candidates by their codes through this distance
// computer and re-score a short list with the float vectors (mcindex::Index::search).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "distance/distance.hpp"
#include "storage/flat_storage.hpp"
#include "storage/sq8.hpp"

namespace mcindex {

// Row i of the codes starts at codes + i * stride; coordinate j reads back as
// lo[j] + scale[j] * code[j].
struct Sq8Storage {
  const std::uint8_t* codes = nullptr;  // nullptr: the index has no codes
  std::size_t n = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;
  const float* lo = nullptr;
  const float* scale = nullptr;
  Metric metric = Metric::L2;

  bool present() const { return codes != nullptr; }
};

// Distances from one float query to codes, in the metric's form (of the reconstructed vectors).
class Sq8Distance final : public DistanceComputer {
 public:
  explicit Sq8Distance(const Sq8Storage& s) : s_(&s), kern_(&kernels()), prepared_(s.dim) {}

  void set_query(const float* q) override {
    if (s_->metric == Metric::L2) sq8_prepare_l2(q, s_->lo, s_->dim, prepared_.data());
    else offset_ = sq8_prepare_dot(q, s_->lo, s_->scale, s_->dim, prepared_.data());
  }

  float operator()(std::uint32_t id) const override {
    const std::uint8_t* row = s_->codes + static_cast<std::size_t>(id) * s_->stride;
    if (s_->metric == Metric::L2) return kern_->sq8_l2(prepared_.data(), s_->scale, row, s_->dim);
    return finish(s_->metric, offset_ + kern_->sq8_dot(prepared_.data(), row, s_->dim));
  }

  void batch(const std::uint32_t* ids, std::size_t count, float* out) const override {
    if (count == 0) return;
    kernel()(prepared_.data(), s_->scale, s_->codes, s_->stride, s_->dim, ids, count, out);
    finish_all(out, count);
  }

  void range(std::size_t first, std::size_t count, float* out) const override {
    if (count == 0) return;
    kernel()(prepared_.data(), s_->scale, s_->codes + first * s_->stride, s_->stride, s_->dim, nullptr, count, out);
    finish_all(out, count);
  }

 private:
  Sq8BatchFn kernel() const { return s_->metric == Metric::L2 ? kern_->sq8_l2_batch : kern_->sq8_dot_batch; }

  void finish_all(float* out, std::size_t count) const {
    if (s_->metric == Metric::L2) return;
    for (std::size_t j = 0; j < count; ++j) out[j] = finish(s_->metric, offset_ + out[j]);
  }

  const Sq8Storage* s_;
  const DistanceKernels* kern_;
  std::vector<float> prepared_;  // q - lo (L2) or q * scale (inner products)
  float offset_ = 0.0f;          // sum q * lo (inner products)
};

}  // namespace mcindex
