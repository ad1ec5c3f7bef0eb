// What one search call asks for (SearchParams, named as the keywords of mcindex.Index.search)
// and what it reports per query (QueryStats, the keys of its return_stats dict).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "parallel.hpp"

namespace mcindex {

// The three strategies, and "let the planner choose".
enum class Strategy : int { Auto = 0, Mci = 1, Graph = 2, Exact = 3 };

// The planner's rule for one call (mcindex.planner derives it from the index's cost table for
// the call's ef): the exact scan while at most exact_max_valid points pass the filter, the
// navigable graph from graph_min_fraction of the points, the clique traversal between. A planned
// traversal gives up after about 2 * valid / exact_cost_ratio distances (what the exact scan
// would cost, one traversal distance costing exact_cost_ratio scan distances); 0: no budget.
struct PlannerRule {
  std::uint64_t exact_max_valid = 2000;
  double graph_min_fraction = 0.3;
  double exact_cost_ratio = 0.0;
};

struct SearchParams {
  std::size_t k = 10;
  std::size_t ef = 64;             // candidate list of the traversals; raised to k
  Strategy strategy = Strategy::Auto;
  int threads = 1;                 // threads over queries
  std::size_t seeds = 0;           // clique traversal: spread seeds (0: 16 + valid / 512)
  std::size_t idle_window = 0;     // clique traversal: stop after this many expansions without
                                   // a top-k change (0: max(ef, 16))
  std::size_t max_hops = 0;        // clique traversal: expansion cap (0: 8 * ef)
  bool graph_links = true;         // clique traversal also follows navigable-graph edges
  std::size_t rerank = 0;          // with codes: candidates re-scored with float vectors (raised to k)
  PlannerRule rule;
  // Optional: polled between queries (and blocks of the exact scan); once stopped, the call
  // returns early with an incomplete output (the caller discards it).
  Interrupt* interrupt = nullptr;

  // The candidate list a traversal keeps: ef raised to k, at most n (a huge ef or k must not
  // reserve memory for slots that can never fill).
  std::size_t list_size(std::size_t n) const {
    const std::size_t l = ef > k ? ef : k;
    return l < n ? (l > 0 ? l : 1) : (n > 0 ? n : 1);
  }

  void validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
    if (k == 0 || k > (std::size_t{1} << 40)) fail("k must be in [1, 2^40]");
    if (ef == 0) fail("ef must be >= 1");
    if (static_cast<int>(strategy) < 0 || static_cast<int>(strategy) > 3) fail("unknown strategy");
    if (threads < 1 || threads > 4096) fail("threads must be in [1, 4096]");
    if (!(rule.graph_min_fraction >= 0.0)) fail("graph_min_fraction must be >= 0");  // NaN too
    if (!(rule.exact_cost_ratio >= 0.0) || rule.exact_cost_ratio > 1e300) fail("exact_cost_ratio must be finite and >= 0");
  }
};

// Why a planned traversal handed its query to the exact scan (stats "fallback_reason").
enum class Fallback : std::uint32_t {
  None = 0,
  NoValidNear = 1,  // none of the points the descent scored near the query passes the filter
  Budget = 2,       // the traversal spent what the exact scan would cost
  Idle = 3,         // the graph walk went long without finding a better valid point
};

// Why a traversal the caller forced may have missed neighbours (stats "early_stop_reason"); the
// planner would have handed such a query to the exact scan, a forced strategy answers it anyway.
enum class EarlyStop : std::uint32_t {
  None = 0,
  NoValidNear = 1,  // no point the descent scored near the query passes the filter
  HopLimit = 2,     // the clique traversal reached max_hops with one of its top k unexpanded
  Short = 3,        // fewer than min(k, valid) valid points found
  Rerank = 4,       // codes: a point ranked past the re-rank list may be nearer than the k-th answer
};

struct QueryStats {
  std::int32_t strategy = 0;      // the strategy taken (never Auto)
  std::uint64_t valid = 0;        // points the filter allows
  std::uint64_t distances = 0;    // distance computations
  std::uint64_t expansions = 0;   // points expanded
  std::uint64_t cliques = 0;      // cliques expanded
  std::uint32_t seeds = 0;        // seeds scored before the clique traversal
  std::uint32_t fallback = 0;     // a Fallback value
  std::uint32_t found = 0;        // valid results returned (<= k)
  std::uint32_t early_stop = 0;   // an EarlyStop value (forced traversals; Rerank: any strategy)
};

}  // namespace mcindex
