// The initial kNN graph: for every point, up to pool_size approximate nearest neighbours,
// WITHOUT diversity pruning (pruning removes exactly the near neighbours cliques need).
// Produced by searching the navigable graph from each point itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "graph/navigable_graph.hpp"

namespace mcindex {

struct KnnPool {
  std::size_t n = 0, width = 0;         // width = pool_size
  std::vector<std::uint32_t> ids;       // n * width, row ascending by distance
  std::vector<std::uint32_t> count;     // valid entries per row (fewer when n or a graph component is small)
  const std::uint32_t* row(std::size_t v) const { return ids.data() + v * width; }
};

// search_list: candidate list size of each search (0: pool_size + 1); the pool takes the
// nearest of every point the search scored.
KnnPool build_knn_pool(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size,
                       std::size_t search_list);

// The cheaper alternative measured against it: the nearest pool_size of each point's
// neighbours and neighbours' neighbours in the navigable graph (about degree^2 distances).
KnnPool build_knn_pool_two_hop(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size);

}  // namespace mcindex
