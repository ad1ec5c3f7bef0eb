// Rounds of local densification and maximal-clique cover (ALGORITHM.md, build steps 2-5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "graph/build_context.hpp"
#include "knn_graph/knn_pool.hpp"

namespace mcindex {

// Named as the keywords of mcindex.Index.build.
struct CoverParams {
  std::size_t min_clique_size = 16;  // tau: smallest clique accepted
  std::size_t clique_quota = 4;      // cliques one seed may add per round (strict mode)
  std::size_t min_memberships = 1;   // a point is "uncovered" while in fewer cliques than this
  std::size_t hub_cap = 64;          // points in this many cliques are left out of pools
  bool extend_cliques = true;        // store clique + the seed's remaining near candidates
  float alpha = 1.2f;                // first threshold factor and additive step
  float alpha_max = 100.0f;          // past this, uncovered seeds get a fallback clique
  std::size_t fallback_size = 16;    // fallback clique: the seed + its nearest pool members
  std::size_t max_clique_calls = 20000;  // Bron-Kerbosch work cap per seed
  std::uint64_t seed = 0;            // seed processing order
  int threads = 0;                   // 0: the build's thread count (deterministic builds use 1)
};

struct CoverRound {
  float alpha;
  std::size_t uncovered_before;
  std::size_t cliques_added;
  std::size_t newly_covered;
};

struct CliqueCover {
  std::vector<std::uint64_t> clique_offsets;  // C + 1
  std::vector<std::uint32_t> clique_members;
  std::vector<float> clique_thresholds;  // theta each clique was formed with (+inf: a fallback clique)
  std::vector<CoverRound> rounds;
  std::size_t fallback_cliques = 0;
};

// Lock-free: seeds are claimed in chunks from an atomic counter, per-point membership counters
// are relaxed atomics, each thread keeps its own clique list, lists are concatenated after each
// round. With threads == 1 the result depends only on the inputs (deterministic mode).
// Every point ends in at least one clique (one fallback round past alpha_max);
// min_memberships is what the densification rounds aim for.
CliqueCover build_clique_cover(const BuildContext& ctx, const KnnPool& pool, const CoverParams& params);

}  // namespace mcindex
