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
// lo[j] + scale[j] * code[j]. The ranges come from quantiles of each dimension, so a vector far
// outside them (an outlier of the whole data) is clamped and its code misplaces it; such
// vectors are listed in `exceptions` (a bitset over [0, n)) and scored with their float row.
struct Sq8Storage {
  const std::uint8_t* codes = nullptr;  // nullptr: the index has no codes
  std::size_t n = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;
  const float* lo = nullptr;
  const float* scale = nullptr;
  Metric metric = Metric::L2;
  const std::uint64_t* exceptions = nullptr;  // nullptr: none
  const FlatStorage* vectors = nullptr;       // the float rows of the exceptions
  float max_error = 0.0f;  // the largest |reconstruction - vector| over the non-exceptions (L2)

  bool present() const { return codes != nullptr; }
  bool exception(std::size_t i) const { return exceptions != nullptr && ((exceptions[i >> 6] >> (i & 63)) & 1u); }
};

inline const FlatStorage kNoVectors{};

// Distances from one float query to codes, in the metric's form (of the reconstructed vectors;
// of the float row for an exception). Cosine scores by squared L2 between the unit query and the
// reconstruction, halved (1 - q.x for unit vectors): a reconstruction's norm is not 1, and a dot
// product would add that first-order error to every distance, while squared L2 keeps it
// second-order, so near neighbours keep their order (tight clusters lost it otherwise).
class Sq8Distance final : public DistanceComputer {
 public:
  explicit Sq8Distance(const Sq8Storage& s)
      : s_(&s), kern_(&kernels()), prepared_(s.dim), exact_(s.vectors != nullptr ? *s.vectors : kNoVectors),
        by_l2_(s.metric != Metric::IP), half_(s.metric == Metric::Cosine) {}

  void set_query(const float* q) override {
    if (by_l2_) sq8_prepare_l2(q, s_->lo, s_->dim, prepared_.data());
    else offset_ = sq8_prepare_dot(q, s_->lo, s_->scale, s_->dim, prepared_.data());
    exact_.set_query(q);
  }

  float operator()(std::uint32_t id) const override {
    if (s_->exception(id)) return exact_(id);
    const std::uint8_t* row = s_->codes + static_cast<std::size_t>(id) * s_->stride;
    if (by_l2_) return scaled(kern_->sq8_l2(prepared_.data(), s_->scale, row, s_->dim));
    return -(offset_ + kern_->sq8_dot(prepared_.data(), row, s_->dim));
  }

  void batch(const std::uint32_t* ids, std::size_t count, float* out) const override {
    if (count == 0) return;
    kernel()(prepared_.data(), s_->scale, s_->codes, s_->stride, s_->dim, ids, count, out);
    finish_all(out, count);
    if (s_->exceptions != nullptr)
      for (std::size_t j = 0; j < count; ++j)
        if (s_->exception(ids[j])) out[j] = exact_(ids[j]);
  }

  void range(std::size_t first, std::size_t count, float* out) const override {
    if (count == 0) return;
    kernel()(prepared_.data(), s_->scale, s_->codes + first * s_->stride, s_->stride, s_->dim, nullptr, count, out);
    finish_all(out, count);
    if (s_->exceptions != nullptr)
      for (std::size_t j = 0; j < count; ++j)
        if (s_->exception(first + j)) out[j] = exact_(static_cast<std::uint32_t>(first + j));
  }

 private:
  Sq8BatchFn kernel() const { return by_l2_ ? kern_->sq8_l2_batch : kern_->sq8_dot_batch; }
  float scaled(float l2) const { return half_ ? 0.5f * l2 : l2; }

  void finish_all(float* out, std::size_t count) const {
    if (by_l2_) {
      if (half_)
        for (std::size_t j = 0; j < count; ++j) out[j] *= 0.5f;
      return;
    }
    for (std::size_t j = 0; j < count; ++j) out[j] = -(offset_ + out[j]);
  }

  const Sq8Storage* s_;
  const DistanceKernels* kern_;
  std::vector<float> prepared_;  // q - lo (L2, cosine) or q * scale (inner product)
  float offset_ = 0.0f;          // sum q * lo (inner product)
  FlatDistance exact_;           // the exceptions' float rows
  bool by_l2_;                   // L2 and cosine: the squared L2 kernel
  bool half_;                    // cosine: half of it
};

}  // namespace mcindex
