#include "index/mci_build.hpp"

#include <chrono>
#include <stdexcept>

#include "knn_graph/knn_pool.hpp"

namespace mcindex {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// point -> cliques, by a counting pass over the members; cliques are visited in order, so each
// point's list comes out sorted and (members being unique within a clique) without repeats.
void invert(std::size_t n, const std::vector<std::uint64_t>& clique_offsets,
            const std::vector<std::uint32_t>& members, std::vector<std::uint64_t>& node_offsets,
            std::vector<std::uint32_t>& node_cliques) {
  node_offsets.assign(n + 1, 0);
  for (std::uint32_t v : members) ++node_offsets[v + 1];
  for (std::size_t v = 0; v < n; ++v) node_offsets[v + 1] += node_offsets[v];
  node_cliques.resize(members.size());
  std::vector<std::uint64_t> fill(node_offsets.begin(), node_offsets.end() - 1);
  const std::size_t C = clique_offsets.size() - 1;
  if (C >= 0xFFFFFFFFull) throw std::length_error("more than 2^32 - 1 groups");
  for (std::size_t c = 0; c < C; ++c)
    for (std::uint64_t i = clique_offsets[c]; i < clique_offsets[c + 1]; ++i)
      node_cliques[fill[members[i]]++] = static_cast<std::uint32_t>(c);
}

}  // namespace

MciStructure build_mci(const BuildContext& ctx, const MciBuildParams& p,
                       const std::vector<std::uint32_t>& sample_ids) {
  MciStructure out;
  const std::size_t n = ctx.base.n;

  auto t0 = Clock::now();
  FixedGraph graph = build_navigable_graph(ctx, p.nav);
  out.phase_seconds.emplace_back("navigable_graph", seconds_since(t0));

  t0 = Clock::now();
  const std::size_t pool_size = p.pool_size;  // the caller clamps it to n - 1
  KnnPool pool = p.pool_two_hop ? build_knn_pool_two_hop(ctx, graph, pool_size)
                                : build_knn_pool(ctx, graph, pool_size, p.pool_search_list);
  out.phase_seconds.emplace_back("knn_pool", seconds_since(t0));
  out.sample_pools.assign(sample_ids.size() * p.pool_size, 0xFFFFFFFFu);
  for (std::size_t i = 0; i < sample_ids.size(); ++i) {
    const std::uint32_t v = sample_ids[i];
    for (std::uint32_t j = 0; j < pool.count[v]; ++j) out.sample_pools[i * p.pool_size + j] = pool.row(v)[j];
  }

  t0 = Clock::now();
  CliqueCover cover = build_clique_cover(ctx, pool, p.cover);
  out.phase_seconds.emplace_back("clique_cover", seconds_since(t0));
  pool = KnnPool();  // free the pool (n * pool_size ids) before the CSRs are assembled

  t0 = Clock::now();
  out.nav = to_csr(graph);
  graph = FixedGraph();
  out.clique_offsets = std::move(cover.clique_offsets);
  out.clique_members = std::move(cover.clique_members);
  out.clique_thresholds = std::move(cover.clique_thresholds);
  out.rounds = std::move(cover.rounds);
  out.fallback_groups = cover.fallback_groups;
  invert(n, out.clique_offsets, out.clique_members, out.node_offsets, out.node_cliques);
  out.phase_seconds.emplace_back("csr", seconds_since(t0));
  return out;
}

}  // namespace mcindex
