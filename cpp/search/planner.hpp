// Every decision the core makes about strategies, in one place: which strategy answers a query, and
// when a planned traversal gives its query to the exact scan instead (mcindex.planner, in
// Python, derives the rule's thresholds from the index's measured cost table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "search/search_params.hpp"

namespace mcindex {

// A non-negative double as a count, saturating (a rule from a file may hold a tiny ratio, and
// casting a double beyond the range of uint64 is undefined behaviour).
inline std::uint64_t saturating(double x) {
  if (!(x < 1.8e19)) return std::numeric_limits<std::uint64_t>::max();
  return x > 0.0 ? static_cast<std::uint64_t>(x) : 0;
}

// The strategy for a query whose filter allows `valid` of the n points.
inline Strategy plan(const SearchParams& p, std::size_t n, std::uint64_t valid) {
  if (p.strategy != Strategy::Auto) return p.strategy;
  if (valid <= p.rule.exact_max_valid) return Strategy::Exact;
  if (static_cast<double>(valid) >= p.rule.graph_min_fraction * static_cast<double>(n)) return Strategy::Graph;
  return Strategy::Mci;
}

// Limits of one traversal. Only a planned traversal has them: a strategy the caller forced runs
// to its own end (and reports in its stats when its answer may miss neighbours).
struct TraversalLimits {
  bool planned = false;
  // Distances after which the exact scan would have been cheaper: twice the break-even, so a
  // query that overruns costs at most about three exact scans while ordinary queries near the
  // crossover selectivity are not cut off.
  std::uint64_t budget = std::numeric_limits<std::uint64_t>::max();
  // Distances a graph walk may spend without a better valid point: about 8 L valid points would
  // be met at random in that many, so a walk that meets none is crossing a region the filter
  // excludes.
  std::uint64_t idle = std::numeric_limits<std::uint64_t>::max();

  static TraversalLimits of(const SearchParams& p, std::size_t n, std::uint64_t valid, std::size_t list_size) {
    TraversalLimits t;
    t.planned = p.strategy == Strategy::Auto;
    if (!t.planned) return t;
    if (p.rule.exact_cost_ratio > 0)
      t.budget = saturating(2.0 * static_cast<double>(valid) / p.rule.exact_cost_ratio + 256.0);
    t.idle = saturating(8.0 * static_cast<double>(list_size) * static_cast<double>(n) /
                        static_cast<double>(valid > 0 ? valid : 1) + 256.0);
    return t;
  }
};

// Whether the filter excludes the query's neighbourhood. A descent towards the query scored
// `scored` points, `valid_scored` of which pass the filter, and its `near` nearest (of any
// kind) hold `valid_near` valid ones. If the filter admitted points at random, a share valid / n
// of each would pass. Far fewer (an eighth of the expected count or less, where at least 8 were
// expected; none, among the nearest, where 6 were) means the filter is anti-correlated with the
// query, where traversals end early on far points (recall 0.2-0.5 measured on the correlated
// workload); the exact scan answers those. A random filter is misjudged with probability about
// 0.3%, and then costs one exact scan: a looser test (none among the 32 nearest where 3 were
// expected, 5% of random queries) sent 7 queries in 200 to the scan under a 10% random filter
// on GloVe, each costing as much as 15 traversals.
inline bool anti_correlated(std::uint64_t valid, std::size_t n, std::size_t near, std::size_t valid_near,
                            std::uint64_t scored, std::uint64_t valid_scored) {
  const double share = static_cast<double>(valid) / static_cast<double>(n > 0 ? n : 1);
  const double expected_near = static_cast<double>(near) * share;
  const double expected_scored = static_cast<double>(scored) * share;
  return (expected_near >= 6.0 && valid_near == 0) ||
         (expected_scored >= 8.0 && static_cast<double>(valid_scored) <= expected_scored / 8.0);
}

}  // namespace mcindex
