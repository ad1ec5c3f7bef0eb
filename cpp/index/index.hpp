// The Maximal Clique Index as one object: its arrays, checked once when it is made, and the
// search over them (strategy per query, the exact scan for the queries assigned or handed to it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "filter.hpp"
#include "index/index_data.hpp"
#include "search/exact_search.hpp"
#include "search/search_params.hpp"

namespace mcindex {

class Index {
 public:
  // Checks every structural invariant a search relies on to stay in bounds (shapes, CSR ends
  // and order, every id below its bound, the entry point); throws std::invalid_argument. The
  // arrays are not copied: the caller keeps them alive as long as the Index.
  explicit Index(const IndexData& data);

  const IndexData& data() const { return data_; }
  std::size_t size() const { return data_.size(); }
  std::size_t dim() const { return data_.vectors.dim; }

  // The k nearest allowed nodes of each of nq queries (nq x dim, contiguous; unit length for
  // cosine). filters[filter_of_query[q]] is query q's filter (nullptr, or an entry < 0: all
  // nodes). Writes nq x k ids and distances (-1 / +inf padded) and one QueryStats per query.
  // With codes, every strategy ranks by codes and the float vectors re-score max(k, rerank)
  // candidates per query.
  void search(const float* queries, std::size_t nq, const Filter* filters, const std::int32_t* filter_of_query,
              const SearchParams& params, std::int64_t* out_ids, float* out_dists, QueryStats* stats) const;

 private:
  // The search with distances from `distance` (floats or codes).
  void search_by(const DistanceFactory& distance, const float* queries, std::size_t nq, const Filter* filters,
                 const std::int32_t* filter_of_query, const SearchParams& params, std::int64_t* out_ids,
                 float* out_dists, QueryStats* stats) const;

  IndexData data_;
};

}  // namespace mcindex
