#include "knn_graph/knn_pool.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>

namespace mcindex {

KnnPool build_knn_pool(const BuildContext& ctx, const FixedGraph& g, std::size_t pool_size,
                       std::size_t search_list) {
  const std::size_t n = ctx.base.n;
  KnnPool pool;
  pool.n = n;
  pool.width = pool_size;
  pool.ids.assign(n * pool_size, 0);
  pool.count.assign(n, 0);
  if (n == 0 || pool_size == 0) return pool;
  const std::size_t list_size = std::max(search_list, pool_size + 1);
  constexpr std::size_t kChunk = 256;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> cancelled{false};
  const int threads = std::max(1, ctx.threads);

#pragma omp parallel num_threads(threads)
  {
    CandidateList list;
    VisitedSet visited(n);
    const bool reporter = omp_get_thread_num() == 0;
    for (;;) {
      std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
      if (begin >= n || cancelled.load(std::memory_order_relaxed)) break;
      if (reporter && !ctx.report("kNN pool", begin, n)) cancelled.store(true);
      std::size_t end = std::min(n, begin + kChunk);
      for (std::size_t v = begin; v < end; ++v) {
        // Starting at v itself: its graph neighbours are already near, so the list fills fast.
        const std::uint32_t start[2] = {static_cast<std::uint32_t>(v), g.entry};
        beam_search(ctx, g, ctx.base.row(v), start, 2, list_size, list, visited, nullptr);
        std::uint32_t* row = pool.ids.data() + v * pool_size;
        std::size_t c = 0;
        for (std::size_t j = 0; j < list.size() && c < pool_size; ++j)
          if (list[j].id != v) row[c++] = list[j].id;
        pool.count[v] = static_cast<std::uint32_t>(c);
      }
    }
  }
  if (cancelled.load()) throw BuildCancelled();
  ctx.report("kNN pool", n, n);
  return pool;
}

}  // namespace mcindex
