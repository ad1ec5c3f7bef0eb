#include "search/exact_search.hpp"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "search/topk.hpp"

namespace mcindex {
namespace {

// The scan walks the data in blocks of kBlock rows and scores each block against a group of
// up to kGroup queries before moving on, so a block (100 KB at dim 50) is read from memory
// once per group instead of once per query. A single query streams the data at memory speed.
constexpr std::size_t kBlock = 512;
constexpr std::size_t kGroup = 32;

struct QueryState {
  const float* vec = nullptr;
  const Filter* filter = nullptr;  // nullptr: all ids
  std::size_t cursor = 0;          // next position in filter->ids
  TopK top;
};

class BlockScanner {
 public:
  explicit BlockScanner(std::unique_ptr<DistanceComputer> dist) : dist_(std::move(dist)), ids_(kBlock), dists_(kBlock) {}

  // Scores rows [first, end) that query q allows and offers them to its heap.
  void scan(QueryState& q, std::size_t first, std::size_t end) {
    dist_->set_query(q.vec);
    const Filter* f = q.filter;
    if (f == nullptr || f->allows_all()) {
      dist_->range(first, end - first, dists_.data());
      offer(q.top, nullptr, first, end - first);
      return;
    }
    std::size_t count = 0;
    if (f->ids != nullptr) {
      // Sorted id list: advance this query's cursor through the block.
      while (q.cursor < f->n_ids && f->ids[q.cursor] < end) ids_[count++] = f->ids[q.cursor++];
    } else {
      f->for_each_in(first, end, [&](std::size_t id) { ids_[count++] = static_cast<std::uint32_t>(id); });
    }
    if (count == 0) return;
    dist_->batch(ids_.data(), count, dists_.data());
    offer(q.top, ids_.data(), 0, count);
  }

 private:
  void offer(TopK& top, const std::uint32_t* ids, std::size_t first, std::size_t count) {
    float thr = top.threshold();
    for (std::size_t j = 0; j < count; ++j) {
      const float d = dists_[j];
      if (d <= thr) {  // <= so that an equal distance with a smaller id can still enter
        top.push(d, ids ? static_cast<std::int64_t>(ids[j]) : static_cast<std::int64_t>(first + j));
        thr = top.threshold();
      }
    }
  }

  std::unique_ptr<DistanceComputer> dist_;
  std::vector<std::uint32_t> ids_;
  std::vector<float> dists_;
};

}  // namespace

void exact_search(std::size_t n, std::size_t dim, const DistanceFactory& distance, const float* queries,
                  std::size_t nq, const Filter* filters, const std::int32_t* filter_of_query,
                  const ExactSearchParams& p, std::int64_t* out_ids, float* out_dists) {
  if (nq == 0) return;
  std::size_t threads = p.threads > 0 ? static_cast<std::size_t>(p.threads)
                                      : static_cast<std::size_t>(omp_get_max_threads());
  // Groups small enough that every thread gets work, large enough to reuse each block.
  const std::size_t group = std::clamp<std::size_t>((nq + threads - 1) / threads, 1, kGroup);
  const std::size_t n_groups = (nq + group - 1) / group;
  threads = std::min(threads, n_groups);

  struct Scratch {
    std::unique_ptr<BlockScanner> scanner;
    std::vector<QueryState> states;
  };
  Interrupt* interrupt = p.interrupt;
  parallel_for(
      n_groups, static_cast<int>(threads), 1, interrupt,
      [&] {
        Scratch s;
        s.scanner = std::make_unique<BlockScanner>(distance());
        s.states.resize(group);
        return s;
      },
      [&](Scratch& s, std::size_t g) {
        const std::size_t q0 = g * group;
        const std::size_t gq = std::min(group, nq - q0);
        for (std::size_t i = 0; i < gq; ++i) {
          QueryState& st = s.states[i];
          const std::size_t q = q0 + i;
          st.vec = queries + q * dim;
          st.filter = (filter_of_query != nullptr && filter_of_query[q] >= 0) ? &filters[filter_of_query[q]] : nullptr;
          st.cursor = 0;
          st.top.reset(p.k);
        }
        for (std::size_t first = 0; first < n; first += kBlock) {
          if (interrupt != nullptr) {
            interrupt->poll();
            if (interrupt->stopped()) return;
          }
          const std::size_t end = std::min(first + kBlock, n);
          for (std::size_t i = 0; i < gq; ++i) s.scanner->scan(s.states[i], first, end);
        }
        for (std::size_t i = 0; i < gq; ++i)
          s.states[i].top.write_sorted(out_ids + (q0 + i) * p.k, out_dists + (q0 + i) * p.k);
      });
}

void exact_search(const FlatStorage& base, const float* queries, std::size_t nq, const Filter* filters,
                  const std::int32_t* filter_of_query, const ExactSearchParams& params, std::int64_t* out_ids,
                  float* out_dists) {
  const DistanceFactory flat = [&base] { return std::make_unique<FlatDistance>(base); };
  exact_search(base.n, base.dim, flat, queries, nq, filters, filter_of_query, params, out_ids, out_dists);
}

}  // namespace mcindex
