#include "graph/navigable_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <random>

namespace mcindex {
namespace {

// Largest batch as a fraction of n: small enough that points of one batch still find each
// other's neighbourhoods through earlier batches (the prefix-doubling schedule).
constexpr double kMaxBatchFraction = 0.02;

std::uint32_t find_medoid(const BuildContext& ctx) {
  const std::size_t n = ctx.base.n, dim = ctx.base.dim;
  std::vector<double> centroid(dim, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = ctx.base.row(i);
    for (std::size_t d = 0; d < dim; ++d) centroid[d] += r[d];
  }
  std::vector<float> c(dim);
  for (std::size_t d = 0; d < dim; ++d) c[d] = static_cast<float>(centroid[d] / static_cast<double>(n));
  std::uint32_t best = 0;
  float best_d = kernels().l2sq(c.data(), ctx.base.row(0), dim);
  for (std::size_t i = 1; i < n; ++i) {
    float d = kernels().l2sq(c.data(), ctx.base.row(i), dim);
    if (d < best_d) { best_d = d; best = static_cast<std::uint32_t>(i); }
  }
  return best;
}

// Keeps at most `degree` of `cands` (sorted ascending by distance to p), dropping a candidate
// when an already kept one is alpha-times closer to it than p is (RobustPrune).
void robust_prune(const BuildContext& ctx, std::uint32_t p, const std::vector<Candidate>& cands,
                  float alpha, std::size_t degree, std::vector<std::uint32_t>& out) {
  out.clear();
  for (const Candidate& c : cands) {
    if (c.id == p) continue;
    if (!out.empty() && out.back() == c.id) continue;  // duplicates arrive adjacent after sorting
    bool keep = true;
    for (std::uint32_t r : out) {
      if (r == c.id || alpha * ctx.distance(r, c.id) <= c.dist) { keep = false; break; }
    }
    if (keep) {
      out.push_back(c.id);
      if (out.size() >= degree) break;
    }
  }
}

bool by_dist_then_id(const Candidate& a, const Candidate& b) {
  return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}

}  // namespace

void beam_search(const BuildContext& ctx, const FixedGraph& g, const float* query,
                 const std::uint32_t* entries, std::size_t n_entries, std::size_t list_size,
                 CandidateList& list, VisitedSet& visited, std::vector<Candidate>* expanded,
                 std::vector<Candidate>* scored) {
  thread_local std::vector<std::uint32_t> fresh;
  thread_local std::vector<float> dists;
  list.reset(list_size);
  visited.next_epoch();
  for (std::size_t e = 0; e < n_entries; ++e) {
    if (visited.test_and_set(entries[e])) continue;
    float d = ctx.distance_to(query, entries[e]);
    if (scored) scored->push_back({d, entries[e], false});
    list.insert(d, entries[e]);
  }
  std::size_t i;
  while ((i = list.next_unexpanded()) < list.size()) {
    list.mark_expanded(i);
    const Candidate u = list[i];
    if (expanded) expanded->push_back(u);
    // Score the unvisited neighbours with one batch call: it prefetches whole rows ahead,
    // and these rows are cache misses, the cost that dominates a build.
    const std::uint32_t* nb = g.neighbors(u.id);
    const std::uint32_t deg = g.deg[u.id];
    fresh.clear();
    for (std::uint32_t j = 0; j < deg; ++j)
      if (!visited.test_and_set(nb[j])) fresh.push_back(nb[j]);
    dists.resize(fresh.size());
    ctx.distances_to(query, fresh.data(), fresh.size(), dists.data());
    for (std::size_t j = 0; j < fresh.size(); ++j) {
      const float d = dists[j];
      if (scored) scored->push_back({d, fresh[j], false});
      if (list.full() && d >= list.worst()) continue;
      list.insert(d, fresh[j]);
    }
  }
}

FixedGraph build_navigable_graph(const BuildContext& ctx, const NavGraphParams& p) {
  const std::size_t n = ctx.base.n;
  FixedGraph g;
  g.n = n;
  g.degree = p.degree;
  g.adj.assign(n * p.degree, 0);
  g.deg.assign(n, 0);
  if (n == 0) return g;
  g.entry = find_medoid(ctx);

  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(p.seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::iter_swap(order.begin(), std::find(order.begin(), order.end(), g.entry));  // entry first

  const int threads = std::max(1, ctx.threads);
  const std::size_t max_batch = std::max<std::size_t>(1, static_cast<std::size_t>(kMaxBatchFraction * n));

  // Per-thread scratch, allocated once for the whole build.
  struct Scratch {
    CandidateList list;
    VisitedSet visited;
    std::vector<Candidate> expanded, cands;
    std::vector<std::uint32_t> out;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> reverse;  // (target, source)
  };
  std::vector<Scratch> scratch(static_cast<std::size_t>(threads));
  for (Scratch& sc : scratch) sc.visited.resize(n);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> all_reverse;
  std::vector<std::size_t> group_start;

  std::size_t done = 1;  // the entry point is in with no edges
  std::size_t batch = 1;
  while (done < n) {
    if (!ctx.report("navigable graph", done, n)) throw BuildCancelled();
    const std::size_t begin = done, end = std::min(n, done + batch);
    for (Scratch& sc : scratch) sc.reverse.clear();  // serially: a smaller team must not leave stale edges

    // 1. Each new point searches the graph as it stood before this batch and keeps a pruned
    //    out-list. Only the point's own row is written: no locks needed.
    RegionErrors insert_errors;
#pragma omp parallel num_threads(threads)
    {
      Scratch& sc = scratch[static_cast<std::size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 16)
      for (std::int64_t i = static_cast<std::int64_t>(begin); i < static_cast<std::int64_t>(end); ++i) {
        if (insert_errors.stop.load(std::memory_order_relaxed)) continue;
        insert_errors.run([&] {
          const std::uint32_t v = order[i];
          sc.expanded.clear();
          // Search ends with every list entry expanded, so `expanded` holds the list too.
          beam_search(ctx, g, ctx.base.row(v), &g.entry, 1, p.build_list, sc.list, sc.visited, &sc.expanded);
          std::sort(sc.expanded.begin(), sc.expanded.end(), by_dist_then_id);
          robust_prune(ctx, v, sc.expanded, p.alpha, p.degree, sc.out);
          std::copy(sc.out.begin(), sc.out.end(), g.adj.begin() + static_cast<std::ptrdiff_t>(v * p.degree));
          g.deg[v] = static_cast<std::uint32_t>(sc.out.size());
          for (std::uint32_t u : sc.out) sc.reverse.emplace_back(u, v);
        });
      }
    }
    insert_errors.rethrow();

    // 2. Reverse edges, grouped by target; each target is updated by one thread.
    all_reverse.clear();
    for (const Scratch& sc : scratch) all_reverse.insert(all_reverse.end(), sc.reverse.begin(), sc.reverse.end());
    std::sort(all_reverse.begin(), all_reverse.end());
    group_start.clear();
    for (std::size_t i = 0; i < all_reverse.size(); ++i)
      if (i == 0 || all_reverse[i].first != all_reverse[i - 1].first) group_start.push_back(i);
    group_start.push_back(all_reverse.size());

    RegionErrors reverse_errors;
#pragma omp parallel num_threads(threads)
    {
      Scratch& sc = scratch[static_cast<std::size_t>(omp_get_thread_num())];
      const std::int64_t n_groups = static_cast<std::int64_t>(group_start.size()) - 1;
#pragma omp for schedule(dynamic, 64)
      for (std::int64_t gi = 0; gi < n_groups; ++gi) {
        if (reverse_errors.stop.load(std::memory_order_relaxed)) continue;
        reverse_errors.run([&] {
          const std::uint32_t t = all_reverse[group_start[gi]].first;
          std::uint32_t* row = g.adj.data() + static_cast<std::size_t>(t) * p.degree;
          std::uint32_t& deg = g.deg[t];
          const std::size_t added = group_start[gi + 1] - group_start[gi];
          if (deg + added <= p.degree) {
            for (std::size_t r = group_start[gi]; r < group_start[gi + 1]; ++r) {
              std::uint32_t s = all_reverse[r].second;
              if (std::find(row, row + deg, s) == row + deg) row[deg++] = s;
            }
            return;
          }
          sc.cands.clear();
          for (std::uint32_t j = 0; j < deg; ++j) sc.cands.push_back({ctx.distance(t, row[j]), row[j], false});
          for (std::size_t r = group_start[gi]; r < group_start[gi + 1]; ++r) {
            std::uint32_t s = all_reverse[r].second;
            sc.cands.push_back({ctx.distance(t, s), s, false});
          }
          std::sort(sc.cands.begin(), sc.cands.end(), by_dist_then_id);
          robust_prune(ctx, t, sc.cands, p.alpha, p.degree, sc.out);
          std::copy(sc.out.begin(), sc.out.end(), row);
          deg = static_cast<std::uint32_t>(sc.out.size());
        });
      }
    }
    reverse_errors.rethrow();
    done = end;
    batch = std::min(max_batch, batch * 2);
  }
  if (!ctx.report("navigable graph", n, n)) throw BuildCancelled();
  return g;
}

CsrGraph to_csr(const FixedGraph& g) {
  CsrGraph c;
  c.entry = g.entry;
  c.offsets.assign(g.n + 1, 0);
  for (std::size_t v = 0; v < g.n; ++v) c.offsets[v + 1] = c.offsets[v] + g.deg[v];
  c.neighbors.resize(c.offsets[g.n]);
  for (std::size_t v = 0; v < g.n; ++v)
    std::copy(g.neighbors(v), g.neighbors(v) + g.deg[v], c.neighbors.begin() + static_cast<std::ptrdiff_t>(c.offsets[v]));
  return c;
}

}  // namespace mcindex
