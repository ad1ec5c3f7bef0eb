// Filtered k-NN search over the clique index: three routes and a planner that picks one per
// query (exact scan over the valid ids, multi-seed clique traversal, the navigable graph).
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitset.hpp"
#include "distance/distance.hpp"
#include "search/exact_search.hpp"

namespace mcindex {

// Read-only views of a built index (owned by the Python Index object).
struct MciView {
  VectorView base;
  Metric metric = Metric::L2;
  const std::uint64_t* nav_offsets = nullptr;
  const std::uint32_t* nav_neighbors = nullptr;
  std::uint32_t entry = 0;
  const std::uint64_t* clique_offsets = nullptr;
  const std::uint32_t* clique_members = nullptr;
  std::size_t n_cliques = 0;
  const std::uint64_t* node_offsets = nullptr;
  const std::uint32_t* node_cliques = nullptr;
};

enum class Strategy : int { Auto = 0, Mci = 1, Graph = 2, Exact = 3 };

struct MciSearchParams {
  std::size_t k = 10;
  std::size_t ef = 64;            // candidate list of the graph routes (>= k)
  Strategy strategy = Strategy::Auto;
  int threads = 1;
  std::size_t seeds = 0;          // clique traversal: spread seeds (0: from the valid count)
  std::size_t idle_window = 0;    // stop after this many expansions without a top-k change (0: ef)
  std::size_t max_hops = 0;       // expansion cap (0: 8 * ef)
  bool graph_links = true;        // clique traversal also follows navigable-graph edges
  // Planner: exact scan when at most this many points are valid; the navigable graph when at
  // least this fraction is; clique traversal in between.
  std::size_t exact_max_valid = 2000;
  double graph_min_fraction = 0.3;
  // Planned traversals give up after valid / exact_cost_ratio distances (what the exact scan of
  // the valid points would cost, one traversal distance costing this many scan distances) and
  // the query is answered exactly instead. 0: no budget.
  double exact_cost_ratio = 0.0;
  // Optional: polled between queries (and blocks of the exact scan); once it is stopped the
  // call returns early and the output is incomplete (the caller discards it).
  Interrupt* interrupt = nullptr;
};

// Why a planned traversal handed its query to the exact scan.
enum class Fallback : std::uint32_t {
  None = 0,
  NoValidNear = 1,  // none of the query's nearest points passes the filter (anti-correlated)
  Budget = 2,       // the traversal spent what the exact scan would cost
  Idle = 3,         // the graph walk went long without finding a better valid point
};

// Why a traversal the caller forced (strategy mci or graph) may have missed neighbours: the
// planner would have handed such a query to the exact scan; a forced route answers it anyway
// and says so.
enum class EarlyStop : std::uint32_t {
  None = 0,
  NoValidNear = 1,  // no point the descent scored near the query passes the filter
  HopLimit = 2,     // the clique traversal reached max_hops while still improving
  Short = 3,        // fewer than min(k, valid) valid points found
};

struct QueryStats {
  std::int32_t strategy = 0;      // the route taken (Strategy value, never Auto)
  std::uint64_t valid = 0;        // points the filter allows
  std::uint64_t distances = 0;    // distance computations
  std::uint64_t expansions = 0;   // points expanded
  std::uint64_t cliques = 0;      // groups expanded
  std::uint32_t seeds = 0;        // seeds scored before the traversal
  std::uint32_t fallback = 0;     // a Fallback value: why the query was answered exactly instead
  std::uint32_t found = 0;        // valid results returned (<= k)
  std::uint32_t early_stop = 0;   // an EarlyStop value (traversals only)
};

// filters[filter_of_query[q]] is query q's allowed set (bitset words required, sorted ids
// optional); valid_count[f] its popcount. filter_of_query == nullptr or < 0: all points.
void mci_search(const MciView& index, const float* queries, std::size_t nq, const FilterView* filters,
                const std::int32_t* filter_of_query, const std::uint64_t* valid_count,
                const MciSearchParams& params, std::int64_t* out_ids, float* out_dists, QueryStats* stats);

}  // namespace mcindex
