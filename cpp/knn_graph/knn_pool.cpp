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

}  // namespace

KnnPool build_knn_pool(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size,
                       std::size_t search_list) {
  const std::size_t n = ctx.base.n;
  KnnPool pool;
  pool.n = n;
  pool.width = pool_size;
  pool.ids.assign(n * pool_size, 0);
  pool.count.assign(n, 0);
  if (n == 0 || pool_size == 0) return pool;
  // Every point scored during the search is a pool candidate, not only the final list, so a
  // list shorter than the pool still fills it with near points.
  const std::size_t list_size = search_list > 0 ? search_list : pool_size + 1;
  constexpr std::size_t kChunk = 256;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> cancelled{false};
  RegionErrors errors;
  const int threads = std::max(1, ctx.threads);
  const std::vector<std::uint32_t> order = locality_order(g);

#pragma omp parallel num_threads(threads)
  errors.run([&] {
    CandidateList list;
    VisitedSet visited(n);
    std::vector<Candidate> scored;
    const bool reporter = omp_get_thread_num() == 0;
    for (;;) {
      std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n || cancelled.load(std::memory_order_relaxed) || errors.stop.load(std::memory_order_relaxed)) break;
      if (reporter && !ctx.report("kNN pool", begin, n)) cancelled.store(true);
      std::size_t end = std::min(n, begin + kChunk);
      for (std::size_t i = begin; i < end; ++i) {
        const std::size_t v = order[i];
        // Starting at v itself: its graph neighbours are already near, so the list fills fast.
        const std::uint32_t start[2] = {static_cast<std::uint32_t>(v), g.entry};
        scored.clear();
        beam_search(ctx, g, ctx.base.row(v), start, 2, list_size, list, visited, nullptr, &scored);
        const std::size_t keep = std::min(pool_size + 1, scored.size());
        std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep), scored.end(),
                          [](const Candidate& a, const Candidate& b) {
                            return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
                          });
        std::uint32_t* row = pool.ids.data() + v * pool_size;
        std::size_t c = 0;
        for (std::size_t j = 0; j < keep && c < pool_size; ++j)
          if (scored[j].id != v) row[c++] = scored[j].id;
        pool.count[v] = static_cast<std::uint32_t>(c);
      }
    }
  });
  errors.rethrow();
  if (cancelled.load() || !ctx.report("kNN pool", n, n)) throw BuildCancelled();
  return pool;
}

KnnPool build_knn_pool_two_hop(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size) {
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
  const int threads = std::max(1, ctx.threads);
  const std::vector<std::uint32_t> order = locality_order(g);

#pragma omp parallel num_threads(threads)
  errors.run([&] {
    VisitedSet visited(n);
    std::vector<Candidate> cands;
    const bool reporter = omp_get_thread_num() == 0;
    for (;;) {
      std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n || cancelled.load(std::memory_order_relaxed) || errors.stop.load(std::memory_order_relaxed)) break;
      if (reporter && !ctx.report("kNN pool", begin, n)) cancelled.store(true);
      std::size_t end = std::min(n, begin + kChunk);
      for (std::size_t i = begin; i < end; ++i) {
        const std::size_t v = order[i];
        visited.next_epoch();
        visited.test_and_set(static_cast<std::uint32_t>(v));
        cands.clear();
        const float* q = ctx.base.row(v);
        for (std::uint32_t i = 0; i < g.deg[v]; ++i) {
          std::uint32_t u = g.neighbors(v)[i];
          if (!visited.test_and_set(u)) cands.push_back({ctx.distance_to(q, u), u, false});
          for (std::uint32_t j = 0; j < g.deg[u]; ++j) {
            std::uint32_t w = g.neighbors(u)[j];
            if (!visited.test_and_set(w)) cands.push_back({ctx.distance_to(q, w), w, false});
          }
        }
        std::size_t keep = std::min(pool_size, cands.size());
        std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(keep), cands.end(),
                          [](const Candidate& a, const Candidate& b) {
                            return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
                          });
        std::uint32_t* row = pool.ids.data() + v * pool_size;
        for (std::size_t j = 0; j < keep; ++j) row[j] = cands[j].id;
        pool.count[v] = static_cast<std::uint32_t>(keep);
      }
    }
  });
  errors.rethrow();
  if (cancelled.load() || !ctx.report("kNN pool", n, n)) throw BuildCancelled();
  return pool;
}

}  // namespace mcindex
