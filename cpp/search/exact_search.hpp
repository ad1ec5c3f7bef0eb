// Strategy "exact": the brute-force filtered k-NN, the answer every other strategy is measured against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "filter.hpp"
#include "parallel.hpp"
#include "storage/flat_storage.hpp"

namespace mcindex {

// A new distance computer over the searched storage (one per thread).
using DistanceFactory = std::function<std::unique_ptr<DistanceComputer>()>;

struct ExactSearchParams {
  std::size_t k = 10;
  int threads = 0;  // 0: OpenMP's default
  // Optional: polled between blocks of rows; once it is stopped the call returns early and
  // the output is incomplete (the caller discards it).
  Interrupt* interrupt = nullptr;
};

// queries: nq x dim, contiguous. filters[filter_of_query[q]] is query q's allowed set;
// filter_of_query == nullptr or an entry < 0 means "all ids". Writes nq x k ids (int64, -1
// padded) and distances (+inf padded), each row ascending (ties by id).
void exact_search(std::size_t n, std::size_t dim, const DistanceFactory& distance, const float* queries,
                  std::size_t nq, const Filter* filters, const std::int32_t* filter_of_query,
                  const ExactSearchParams& params, std::int64_t* out_ids, float* out_dists);

// The same over flat float32 vectors.
void exact_search(const FlatStorage& base, const float* queries, std::size_t nq, const Filter* filters,
                  const std::int32_t* filter_of_query, const ExactSearchParams& params, std::int64_t* out_ids,
                  float* out_dists);

}  // namespace mcindex
