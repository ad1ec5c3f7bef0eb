#include "index/build.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "knn_graph/knn_pool.hpp"

namespace mcindex {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// node -> cliques, by a counting pass over the members; cliques are visited in order, so each
// node's list comes out sorted and (members being unique within a clique) without repeats.
void invert(std::size_t n, const std::vector<std::uint64_t>& clique_offsets,
            const std::vector<std::uint32_t>& members, std::vector<std::uint64_t>& node_offsets,
            std::vector<std::uint32_t>& node_cliques) {
  node_offsets.assign(n + 1, 0);
  for (std::uint32_t v : members) ++node_offsets[v + 1];
  for (std::size_t v = 0; v < n; ++v) node_offsets[v + 1] += node_offsets[v];
  node_cliques.resize(members.size());
  std::vector<std::uint64_t> fill(node_offsets.begin(), node_offsets.end() - 1);
  const std::size_t C = clique_offsets.size() - 1;
  if (C >= 0xFFFFFFFFull) throw std::length_error("more than 2^32 - 1 cliques");
  for (std::size_t c = 0; c < C; ++c)
    for (std::uint64_t i = clique_offsets[c]; i < clique_offsets[c + 1]; ++i)
      node_cliques[fill[members[i]]++] = static_cast<std::uint32_t>(c);
}

}  // namespace

void BuildParams::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  const std::pair<const char*, std::size_t> sizes[] = {
      {"pool_size", pool_size},   {"min_clique_size", min_clique_size}, {"degree", degree},
      {"build_list", build_list}, {"min_memberships", min_memberships}, {"hub_cap", hub_cap},
      {"clique_quota", clique_quota}, {"fallback_size", fallback_size}, {"pool_search_list", pool_search_list}};
  for (const auto& [name, value] : sizes)
    if (value < 1) fail(std::string(name) + " must be >= 1");
  if (!(alpha >= 1.0f)) fail("alpha must be >= 1");
  if (!(alpha_max >= alpha) || !(alpha_max < 1e30f)) fail("alpha_max must be finite and >= alpha");
  if (hub_cap < min_memberships) fail("hub_cap must be >= min_memberships");
  if (threads < 1 || threads > 4096) fail("threads must be in [1, 4096]");
}

BuiltIndex build_index(const FlatStorage& vectors, const BuildParams& bp, const std::vector<std::uint32_t>& sample_ids,
                       const ProgressFn& progress) {
  bp.validate();
  const std::size_t n = vectors.n;
  if (n == 0) throw std::invalid_argument("at least one point is needed");
  if (n >= 0xFFFFFFFFull) throw std::invalid_argument("at most 2^32 - 2 points are supported");
  for (std::uint32_t v : sample_ids)
    if (v >= n) throw std::invalid_argument("sample id out of range");

  BuildContext ctx;
  ctx.base = vectors;
  ctx.threads = bp.threads;
  ctx.progress = progress;

  // A size beyond the number of other points buys nothing; clamping also keeps every
  // n * size product far from overflow.
  NavGraphParams nav;
  nav.degree = std::min(bp.degree, std::max<std::size_t>(n - 1, 1));
  nav.build_list = std::min(bp.build_list, n);
  nav.prune_slack = vectors.metric == Metric::IP ? 1.0f : 1.2f;
  nav.seed = bp.seed;
  const std::size_t pool_size = std::min(bp.pool_size, n - 1);
  CoverParams cover;
  cover.min_clique_size = bp.min_clique_size;
  cover.clique_quota = bp.clique_quota;
  cover.min_memberships = bp.min_memberships;
  cover.hub_cap = bp.hub_cap;
  cover.extend_cliques = bp.extend_cliques;
  cover.alpha = bp.alpha;
  cover.alpha_max = bp.alpha_max;
  cover.fallback_size = bp.fallback_size;
  cover.seed = bp.seed;
  // The graph and pool phases do not depend on the thread count; the cover's races do.
  cover.threads = bp.deterministic ? 1 : bp.threads;

  BuiltIndex out;
  auto t0 = Clock::now();
  FixedGraph graph = build_navigable_graph(ctx, nav);
  out.phase_seconds.emplace_back("navigable_graph", seconds_since(t0));

  t0 = Clock::now();
  KnnPool pool = bp.pool_method == PoolMethod::TwoHop
                     ? build_knn_pool_two_hop(ctx, graph, pool_size)
                     : build_knn_pool(ctx, graph, pool_size, std::min(bp.pool_search_list, n));
  out.phase_seconds.emplace_back("knn_pool", seconds_since(t0));
  out.sample_pools.assign(sample_ids.size() * pool_size, 0xFFFFFFFFu);
  for (std::size_t i = 0; i < sample_ids.size(); ++i) {
    const std::uint32_t v = sample_ids[i];
    for (std::uint32_t j = 0; j < pool.count[v]; ++j) out.sample_pools[i * pool_size + j] = pool.row(v)[j];
  }

  t0 = Clock::now();
  CliqueCover cliques = build_clique_cover(ctx, pool, cover);
  out.phase_seconds.emplace_back("clique_cover", seconds_since(t0));
  pool = KnnPool();  // free the pool (n * pool_size ids) before the CSRs are assembled

  t0 = Clock::now();
  out.nav = to_csr(graph);
  graph = FixedGraph();
  out.clique_offsets = std::move(cliques.clique_offsets);
  out.clique_members = std::move(cliques.clique_members);
  out.clique_thresholds = std::move(cliques.clique_thresholds);
  out.rounds = std::move(cliques.rounds);
  out.fallback_cliques = cliques.fallback_cliques;
  invert(n, out.clique_offsets, out.clique_members, out.node_offsets, out.node_cliques);
  out.phase_seconds.emplace_back("csr", seconds_since(t0));
  return out;
}

}  // namespace mcindex
