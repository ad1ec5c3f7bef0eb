#include "knn_graph/knn_pool.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace mcindex {
namespace {

// Breadth-first order over the graph from its entry point (unreached points appended): points
// processed one after another are then graph neighbours, so their searches touch overlapping
// vector rows and find them in cache.
std::vector<std::uint32_t> locality_order(const FixedGraph& g) {
  std::vector<std::uint32_t> order;
  order.reserve(g.n);
  std::vector<bool> seen(g.n, false);
  auto bfs_from = [&](std::uint32_t start) {
    std::size_t head = order.size();
    order.push_back(start);
    seen[start] = true;
    while (head < order.size()) {
      std::uint32_t u = order[head++];
      for (std::uint32_t j = 0; j < g.deg[u]; ++j) {
        std::uint32_t w = g.neighbors(u)[j];
        if (!seen[w]) { seen[w] = true; order.push_back(w); }
      }
    }
  };
  if (g.n > 0) bfs_from(g.entry);
  for (std::uint32_t v = 0; v < g.n; ++v) if (!seen[v]) bfs_from(v);
  return order;
}

bool nearer(const Candidate& a, const Candidate& b) {
  return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}

// Writes the nearest pool.width of `cands` (excluding v itself) as v's pool row.
void keep_nearest(KnnPool& pool, std::size_t v, std::vector<Candidate>& cands) {
  const std::size_t keep = std::min(pool.width + 1, cands.size());
  std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(keep), cands.end(), nearer);
  std::uint32_t* row = pool.ids.data() + v * pool.width;
  std::size_t c = 0;
  for (std::size_t j = 0; j < keep && c < pool.width; ++j)
    if (cands[j].id != v) row[c++] = cands[j].id;
  pool.count[v] = static_cast<std::uint32_t>(c);
}

struct PoolScratch {
  CandidateList list;
  VisitedSet visited;
  std::vector<Candidate> cands;
  explicit PoolScratch(std::size_t n) : visited(n) {}
};

// Calls fill(scratch, v) for every point, in locality order, on ctx.threads threads that claim
// chunks from an atomic counter; thread 0 reports progress and notices cancellation.
template <typename Fill>
KnnPool build_pool(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size, Fill&& fill) {
  const std::size_t n = ctx.base.n;
  KnnPool pool;
  pool.n = n;
  pool.width = pool_size;
  pool.ids.assign(n * pool_size, 0);
  pool.count.assign(n, 0);
  if (n == 0 || pool_size == 0) return pool;
  constexpr std::size_t kChunk = 256;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> cancelled{false};
  RegionErrors errors;
  const std::vector<std::uint32_t> order = locality_order(g);

#pragma omp parallel num_threads(std::max(1, ctx.threads))
  errors.run([&] {
    PoolScratch sc(n);
    const bool reporter = omp_get_thread_num() == 0;
    for (;;) {
      std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n || cancelled.load(std::memory_order_relaxed) || errors.stop.load(std::memory_order_relaxed)) break;
      for (std::size_t i = begin; i < std::min(n, begin + kChunk); ++i) {
        if (reporter && !ctx.report("kNN pool", i, n)) {  // between points: Ctrl-C answers fast
          cancelled.store(true);
          break;
        }
        fill(sc, pool, order[i]);
      }
    }
  });
  errors.rethrow();
  if (cancelled.load() || !ctx.report("kNN pool", n, n)) throw BuildCancelled();
  return pool;
}

}  // namespace

KnnPool build_knn_pool(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size,
                       std::size_t search_list) {
  // Every point scored during the search is a pool candidate, not only the final list, so a
  // list shorter than the pool still fills it with near points.
  const std::size_t list_size = search_list > 0 ? search_list : pool_size + 1;
  return build_pool(ctx, g, pool_size, [&](PoolScratch& sc, KnnPool& pool, std::uint32_t v) {
    // Starting at v itself: its graph neighbours are already near, so the list fills fast.
    const std::uint32_t start[2] = {v, g.entry};
    sc.cands.clear();
    beam_search(ctx, g, ctx.base.row(v), start, 2, list_size, sc.list, sc.visited, nullptr, &sc.cands);
    keep_nearest(pool, v, sc.cands);
  });
}

KnnPool build_knn_pool_two_hop(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size) {
  return build_pool(ctx, g, pool_size, [&](PoolScratch& sc, KnnPool& pool, std::uint32_t v) {
    sc.visited.next_epoch();
    sc.visited.test_and_set(v);
    sc.cands.clear();
    const FlatDistance dist = ctx.from(ctx.base.row(v));
    for (std::uint32_t i = 0; i < g.deg[v]; ++i) {
      std::uint32_t u = g.neighbors(v)[i];
      if (!sc.visited.test_and_set(u)) sc.cands.push_back({dist(u), u, false});
      for (std::uint32_t j = 0; j < g.deg[u]; ++j) {
        std::uint32_t w = g.neighbors(u)[j];
        if (!sc.visited.test_and_set(w)) sc.cands.push_back({dist(w), w, false});
      }
    }
    keep_nearest(pool, v, sc.cands);
  });
}

}  // namespace mcindex
