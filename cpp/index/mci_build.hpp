// Builds the Maximal Clique Index structure: navigable graph -> kNN pool -> clique cover ->
// the two CSRs (clique -> members, point -> cliques). Vectors are owned by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cliques/clique_cover.hpp"
#include "graph/navigable_graph.hpp"

namespace mcindex {

struct MciBuildParams {
  NavGraphParams nav;
  std::size_t pool_size = 200;
  std::size_t pool_search_list = 0;  // 0: pool_size + 1
  bool pool_two_hop = false;         // pool from 2-hop graph neighbourhoods instead of searches
  CoverParams cover;
};

struct MciStructure {
  CsrGraph nav;
  std::vector<std::uint64_t> clique_offsets;
  std::vector<std::uint32_t> clique_members;
  std::vector<float> clique_thresholds;
  std::vector<std::uint64_t> node_offsets;
  std::vector<std::uint32_t> node_cliques;
  std::vector<CoverRound> rounds;
  std::size_t fallback_groups = 0;
  std::vector<std::pair<std::string, double>> phase_seconds;
  std::vector<std::uint32_t> sample_pools;  // pool rows of the requested sample points
};

MciStructure build_mci(const BuildContext& ctx, const MciBuildParams& params,
                       const std::vector<std::uint32_t>& sample_ids);

}  // namespace mcindex
