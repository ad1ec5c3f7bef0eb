#include "search/exact_search.hpp"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "parallel.hpp"
#include "search/topk.hpp"

namespace mcindex {
namespace {

// The scan walks the data in blocks of kBlock rows and scores each block against a group of
// up to kGroup queries before moving on, so a block (100 KB at dim 50) is read from memory
// once per group instead of once per query. A single query streams the data at memory speed.
constexpr std::size_t kBlock = 512;
constexpr std::size_t kGroup = 32;

// Converts raw kernel output (l2sq or dot) into the metric's reported distance.
inline float finish(Metric m, float raw) {
  switch (m) {
    case Metric::L2: return raw;
    case Metric::IP: return -raw;
    case Metric::Cosine: return 1.0f - raw;
  }
  return raw;
}

struct QueryState {
  const float* vec = nullptr;
  const FilterView* filter = nullptr;  // nullptr: all ids
  std::size_t cursor = 0;              // next position in filter->ids
  TopK top;
  QueryState(std::size_t k, std::size_t n) : top(k, n) {}
};

class BlockScanner {
 public:
  BlockScanner(const VectorView& base, Metric metric)
      : base_(base), metric_(metric), ids_(kBlock), dists_(kBlock) {
    const DistanceKernels& k = kernels();
    batch_ = metric == Metric::L2 ? k.l2sq_batch : k.dot_batch;
  }

  // Scores rows [first, end) that query q allows and offers them to its heap.
  void scan(QueryState& q, std::size_t first, std::size_t end) {
    const FilterView* f = q.filter;
    if (f == nullptr || f->allows_all()) {
      batch_(q.vec, base_.row(first), base_.stride, base_.dim, nullptr, end - first, dists_.data());
      offer(q.top, nullptr, first, end - first);
      return;
    }
    std::size_t count = 0;
    if (f->ids != nullptr) {
      // Sorted id list: advance this query's cursor through the block.
      while (q.cursor < f->n_ids && f->ids[q.cursor] < end) ids_[count++] = f->ids[q.cursor++];
    } else {
      f->bits.for_each_in(first, end, [&](std::size_t id) { ids_[count++] = static_cast<std::uint32_t>(id); });
    }
    if (count == 0) return;
    batch_(q.vec, base_.data, base_.stride, base_.dim, ids_.data(), count, dists_.data());
    offer(q.top, ids_.data(), 0, count);
  }

 private:
  void offer(TopK& top, const std::uint32_t* ids, std::size_t first, std::size_t count) {
    float thr = top.threshold();
    for (std::size_t j = 0; j < count; ++j) {
      float d = finish(metric_, dists_[j]);
      if (d <= thr) {  // <= so that an equal distance with a smaller id can still enter
        top.push(d, ids ? static_cast<std::int64_t>(ids[j]) : static_cast<std::int64_t>(first + j));
        thr = top.threshold();
      }
    }
  }

  const VectorView& base_;
  Metric metric_;
  BatchDistanceFn batch_;
  std::vector<std::uint32_t> ids_;
  std::vector<float> dists_;
};

}  // namespace

void exact_search(const VectorView& base, const float* queries, std::size_t nq,
                  const FilterView* filters, const std::int32_t* filter_of_query,
                  const ExactSearchParams& p, std::int64_t* out_ids, float* out_dists) {
  if (nq == 0) return;
  std::size_t threads = p.threads > 0 ? static_cast<std::size_t>(p.threads)
                                      : static_cast<std::size_t>(omp_get_max_threads());
  // Groups small enough that every thread gets work, large enough to reuse each block.
  std::size_t group = std::clamp<std::size_t>((nq + threads - 1) / threads, 1, kGroup);
  std::size_t n_groups = (nq + group - 1) / group;
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
        s.scanner = std::make_unique<BlockScanner>(base, p.metric);
        s.states.assign(group, QueryState(p.k, base.n));
        return s;
      },
      [&](Scratch& s, std::size_t g) {
        const std::size_t q0 = g * group;
        const std::size_t gq = std::min(group, nq - q0);
        for (std::size_t i = 0; i < gq; ++i) {
          QueryState& st = s.states[i];
          const std::size_t q = q0 + i;
          st.vec = queries + q * base.dim;
          st.filter = (filter_of_query != nullptr && filter_of_query[q] >= 0) ? &filters[filter_of_query[q]] : nullptr;
          st.cursor = 0;
          st.top.clear();
        }
        for (std::size_t first = 0; first < base.n; first += kBlock) {
          if (interrupt != nullptr) {
            interrupt->poll();
            if (interrupt->stopped()) return;
          }
          const std::size_t end = std::min(first + kBlock, base.n);
          for (std::size_t i = 0; i < gq; ++i) s.scanner->scan(s.states[i], first, end);
        }
        for (std::size_t i = 0; i < gq; ++i)
          s.states[i].top.write_sorted(out_ids + (q0 + i) * p.k, out_dists + (q0 + i) * p.k);
      });
}

}  // namespace mcindex
