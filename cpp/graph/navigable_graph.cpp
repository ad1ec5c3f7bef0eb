#include "graph/navigable_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
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

// splitmix64: a per-point pseudo-random order of that point's duplicates (see robust_prune).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Keeps at most `degree` of `cands` (sorted ascending by distance to p), dropping a candidate
// when an already kept one is alpha-times closer to it than p is (RobustPrune).
//
// Exact duplicates of p (the same vector) need care. Left to the rule, the first kept copy
// prunes every other copy (distance 0 to it), and every copy links to the same lowest-id copy:
// the copies form a star that a search enters and cannot leave, so it finds few of them. With
// alpha = 1 ("ip") it is worse: a kept copy stands where p stands and prunes every candidate
// after it, leaving points with a duplicate one or two edges. So duplicates are taken first, at
// most a few, in an order that differs per p (the copies of one vector then form a random,
// connected subgraph), and they never prune anyone. Without duplicates nothing changes.
void robust_prune(const BuildContext& ctx, std::uint32_t p, const std::vector<Candidate>& cands,
                  float alpha, std::size_t degree, std::vector<std::uint32_t>& out) {
  out.clear();
  const FlatDistance d = ctx.distances();
  thread_local std::vector<std::pair<std::uint64_t, std::uint32_t>> dups;
  dups.clear();
  // Duplicates are at p's own distance: a prefix of the sorted candidates.
  const float self = d.between(p, p);
  const float near_self = self + 1e-6f * std::max(1.0f, std::fabs(self));
  std::size_t prefix = 0;
  for (; prefix < cands.size() && cands[prefix].dist <= near_self; ++prefix) {
    const std::uint32_t c = cands[prefix].id;
    if (c != p && d.l2sq_between(p, c) == 0.0f && (dups.empty() || dups.back().second != c))
      dups.emplace_back(mix((std::uint64_t{p} << 32) | c), c);
  }
  const std::size_t max_dups = std::min<std::size_t>(4, std::max<std::size_t>(1, degree / 4));
  if (dups.size() > max_dups) {
    std::partial_sort(dups.begin(), dups.begin() + static_cast<std::ptrdiff_t>(max_dups), dups.end());
    dups.resize(max_dups);
  }
  for (const auto& d : dups)
    if (std::find(out.begin(), out.end(), d.second) == out.end()) out.push_back(d.second);
  const std::size_t n_dups = out.size();
  if (out.size() >= degree) return;

  for (std::size_t j = 0; j < cands.size(); ++j) {
    const Candidate& c = cands[j];
    if (c.id == p) continue;
    if (j < prefix && d.l2sq_between(p, c.id) == 0.0f) continue;  // a duplicate: decided above
    if (out.size() > n_dups && out.back() == c.id) continue;  // repeats arrive adjacent after sorting
    bool keep = true;
    for (std::size_t r = n_dups; r < out.size(); ++r) {
      if (out[r] == c.id || alpha * d.between(out[r], c.id) <= c.dist) { keep = false; break; }
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

// Every point must be reachable from the entry point, or no graph search can ever return it.
// The batched build almost always gets there, but not always: in high dimensions the points of
// a cluster are nearly equidistant, RobustPrune keeps them all, and out-lists full of
// same-cluster points leave no room for the edges to other clusters (4096-d Gaussian clusters:
// only the entry's cluster was reachable). So points not reachable from the entry are linked in:
// for each one, u, in id order, a search from the entry towards u finds the nearest reachable
// points, the nearest with a free slot gets the edge v -> u (if all are full, the nearest swaps
// its last edge for it and keeps that one as an extra edge beyond the degree), and everything
// reachable from u is reached too.
// Returns the number of edges added.
std::size_t connect_unreachable(const BuildContext& ctx, FixedGraph& g, std::size_t list_size) {
  const std::size_t n = g.n;
  if (n == 0) return 0;
  std::vector<char> seen(n, 0);
  std::vector<std::uint32_t> queue;
  queue.reserve(n);
  // Extra edges start at reached points only, so a flood from a new point never needs them.
  auto flood = [&](std::uint32_t start) {
    std::size_t head = queue.size();
    queue.push_back(start);
    seen[start] = 1;
    while (head < queue.size()) {
      const std::uint32_t u = queue[head++];
      for (std::uint32_t j = 0; j < g.deg[u]; ++j) {
        const std::uint32_t w = g.neighbors(u)[j];
        if (!seen[w]) {
          seen[w] = 1;
          queue.push_back(w);
        }
      }
    }
  };
  flood(g.entry);
  if (queue.size() == n) return 0;

  CandidateList list;
  VisitedSet visited(n);
  std::size_t added = 0;
  for (std::uint32_t u = 0; u < n; ++u) {
    if (seen[u]) continue;
    if (!ctx.report("navigable graph", queue.size(), n)) throw BuildCancelled();
    // The search only walks row edges from the entry: every point it lists is reached already.
    beam_search(ctx, g, ctx.base.row(u), &g.entry, 1, list_size, list, visited, nullptr);
    std::size_t pick = 0;
    while (pick < list.size() && g.deg[list[pick].id] >= g.degree) ++pick;
    if (pick < list.size()) {
      const std::uint32_t v = list[pick].id;
      g.adj[static_cast<std::size_t>(v) * g.degree + g.deg[v]++] = u;
    } else {
      // Every candidate's row is full: the nearest takes u into its row (so later searches can
      // walk into u's part of the graph) and keeps the edge it gives up as an extra edge.
      const std::uint32_t v = list[0].id;
      std::uint32_t& last = g.adj[static_cast<std::size_t>(v) * g.degree + g.deg[v] - 1];
      g.extra.emplace_back(v, last);
      last = u;
    }
    ++added;
    flood(u);
  }
  return added;
}

}  // namespace

void beam_search(const BuildContext& ctx, const FixedGraph& g, const float* query,
                 const std::uint32_t* entries, std::size_t n_entries, std::size_t list_size,
                 CandidateList& list, VisitedSet& visited, std::vector<Candidate>* expanded,
                 std::vector<Candidate>* scored) {
  thread_local std::vector<std::uint32_t> fresh;
  thread_local std::vector<float> dists;
  const FlatDistance dist = ctx.from(query);
  list.reset(list_size);
  visited.next_epoch();
  for (std::size_t e = 0; e < n_entries; ++e) {
    if (visited.test_and_set(entries[e])) continue;
    float d = dist(entries[e]);
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
    dist.batch(fresh.data(), fresh.size(), dists.data());
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
    //    Thread 0 (the caller) also reports progress between its points: a late batch holds
    //    2% of the points, seconds of work at a million points, and Ctrl-C must not wait for it.
    RegionErrors insert_errors;
    std::atomic<bool> cancelled{false};
#pragma omp parallel num_threads(threads)
    {
      Scratch& sc = scratch[static_cast<std::size_t>(omp_get_thread_num())];
      const bool reporter = omp_get_thread_num() == 0;
#pragma omp for schedule(dynamic, 16)
      for (std::int64_t i = static_cast<std::int64_t>(begin); i < static_cast<std::int64_t>(end); ++i) {
        if (insert_errors.stop.load(std::memory_order_relaxed) || cancelled.load(std::memory_order_relaxed)) continue;
        insert_errors.run([&] {
          if (reporter && !ctx.report("navigable graph", static_cast<std::size_t>(i), n)) {
            cancelled.store(true, std::memory_order_relaxed);
            return;
          }
          const std::uint32_t v = order[i];
          sc.expanded.clear();
          // Search ends with every list entry expanded, so `expanded` holds the list too.
          beam_search(ctx, g, ctx.base.row(v), &g.entry, 1, p.build_list, sc.list, sc.visited, &sc.expanded);
          std::sort(sc.expanded.begin(), sc.expanded.end(), by_dist_then_id);
          robust_prune(ctx, v, sc.expanded, p.prune_slack, p.degree, sc.out);
          std::copy(sc.out.begin(), sc.out.end(), g.adj.begin() + static_cast<std::ptrdiff_t>(v * p.degree));
          g.deg[v] = static_cast<std::uint32_t>(sc.out.size());
          for (std::uint32_t u : sc.out) sc.reverse.emplace_back(u, v);
        });
      }
    }
    insert_errors.rethrow();
    if (cancelled.load()) throw BuildCancelled();

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
      const bool reporter = omp_get_thread_num() == 0;
      const std::int64_t n_groups = static_cast<std::int64_t>(group_start.size()) - 1;
#pragma omp for schedule(dynamic, 64)
      for (std::int64_t gi = 0; gi < n_groups; ++gi) {
        if (reverse_errors.stop.load(std::memory_order_relaxed) || cancelled.load(std::memory_order_relaxed)) continue;
        reverse_errors.run([&] {
          if (reporter && !ctx.report("navigable graph", begin, n)) {
            cancelled.store(true, std::memory_order_relaxed);
            return;
          }
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
          const FlatDistance d = ctx.distances();
          for (std::uint32_t j = 0; j < deg; ++j) sc.cands.push_back({d.between(t, row[j]), row[j], false});
          for (std::size_t r = group_start[gi]; r < group_start[gi + 1]; ++r) {
            std::uint32_t s = all_reverse[r].second;
            sc.cands.push_back({d.between(t, s), s, false});
          }
          std::sort(sc.cands.begin(), sc.cands.end(), by_dist_then_id);
          robust_prune(ctx, t, sc.cands, p.prune_slack, p.degree, sc.out);
          std::copy(sc.out.begin(), sc.out.end(), row);
          deg = static_cast<std::uint32_t>(sc.out.size());
        });
      }
    }
    reverse_errors.rethrow();
    if (cancelled.load()) throw BuildCancelled();
    done = end;
    batch = std::min(max_batch, batch * 2);
  }
  connect_unreachable(ctx, g, p.build_list);
  if (!ctx.report("navigable graph", n, n)) throw BuildCancelled();
  return g;
}

CsrGraph to_csr(const FixedGraph& g) {
  CsrGraph c;
  c.entry = g.entry;
  c.offsets.assign(g.n + 1, 0);
  std::vector<std::uint32_t> extra_count(g.n, 0);
  for (const auto& [from, to] : g.extra) ++extra_count[from];
  for (std::size_t v = 0; v < g.n; ++v) c.offsets[v + 1] = c.offsets[v] + g.deg[v] + extra_count[v];
  c.neighbors.resize(c.offsets[g.n]);
  std::vector<std::uint64_t> fill(g.n);
  for (std::size_t v = 0; v < g.n; ++v) {
    std::copy(g.neighbors(v), g.neighbors(v) + g.deg[v], c.neighbors.begin() + static_cast<std::ptrdiff_t>(c.offsets[v]));
    fill[v] = c.offsets[v] + g.deg[v];
  }
  for (const auto& [from, to] : g.extra) c.neighbors[fill[from]++] = to;
  return c;
}

}  // namespace mcindex
