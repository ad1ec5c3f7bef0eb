// Builds the Maximal Clique Index: navigable graph -> kNN pool -> clique cover -> the two CSRs
// (clique -> members, node -> cliques). The vectors are the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cliques/clique_cover.hpp"
#include "graph/navigable_graph.hpp"

namespace mcindex {

enum class PoolMethod : int { Search = 0, TwoHop = 1 };

// The keywords of mcindex.Index.build (see its docstring for what each costs).
struct BuildParams {
  std::size_t pool_size = 200;
  std::size_t min_clique_size = 16;
  float alpha = 1.2f;
  std::size_t degree = 32;
  std::size_t build_list = 100;
  std::size_t min_memberships = 2;
  std::size_t hub_cap = 64;
  std::size_t clique_quota = 4;
  bool extend_cliques = true;
  float alpha_max = 100.0f;
  std::size_t fallback_size = 16;
  PoolMethod pool_method = PoolMethod::Search;
  std::size_t pool_search_list = 100;
  std::uint64_t seed = 0;
  int threads = 1;
  bool deterministic = false;  // the clique cover on one thread: the same index for the same inputs

  // Throws std::invalid_argument naming the keyword.
  void validate() const;
};

struct BuiltIndex {
  CsrGraph nav;
  std::vector<std::uint64_t> clique_offsets;
  std::vector<std::uint32_t> clique_members;
  std::vector<float> clique_thresholds;
  std::vector<std::uint64_t> node_offsets;
  std::vector<std::uint32_t> node_cliques;
  std::vector<CoverRound> rounds;
  std::size_t fallback_cliques = 0;
  std::vector<std::pair<std::string, double>> phase_seconds;
  std::vector<std::uint32_t> sample_pools;  // pool rows (pool_size wide) of the sample points
};

// `sample_ids`: points whose kNN pool rows are returned (for the build's statistics).
BuiltIndex build_index(const FlatStorage& vectors, const BuildParams& params, const std::vector<std::uint32_t>& sample_ids,
                       const ProgressFn& progress);

}  // namespace mcindex
