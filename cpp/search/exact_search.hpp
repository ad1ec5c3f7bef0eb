// Exact (brute-force) filtered k-NN: the answer every other route is measured against.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitset.hpp"
#include "distance/distance.hpp"
#include "parallel.hpp"

namespace mcindex {

// A row-major float32 store: row i starts at data + i * stride.
struct VectorView {
  const float* data = nullptr;
  std::size_t n = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;
  const float* row(std::size_t i) const { return data + i * stride; }
};

struct ExactSearchParams {
  std::size_t k = 10;
  Metric metric = Metric::L2;
  int threads = 0;  // 0: OpenMP's default
  // Optional: polled between blocks of rows; once it is stopped the call returns early and
  // the output is incomplete (the caller discards it).
  Interrupt* interrupt = nullptr;
};

// queries: nq x dim, contiguous. filters[filter_of_query[q]] is query q's allowed set;
// filter_of_query == nullptr or an entry < 0 means "all ids". Cosine expects unit vectors.
// Writes nq x k ids (int64, -1 padded) and distances (+inf padded), each row ascending.
void exact_search(const VectorView& base, const float* queries, std::size_t nq,
                  const FilterView* filters, const std::int32_t* filter_of_query,
                  const ExactSearchParams& params, std::int64_t* out_ids, float* out_dists);

}  // namespace mcindex
