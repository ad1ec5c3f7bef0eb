// Bounded top-k: a max-heap of the k best (distance, id) pairs seen so far.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace mcindex {

class TopK {
 public:
  // `reserve` caps the up-front allocation (a huge k on few points must not allocate k slots).
  explicit TopK(std::size_t k, std::size_t reserve = 1024) : k_(k) { heap_.reserve(std::min(k, reserve)); }

  // Distance a candidate must beat to enter (infinity until k are held).
  float threshold() const {
    if (k_ == 0) return -std::numeric_limits<float>::infinity();
    return heap_.size() < k_ ? std::numeric_limits<float>::infinity() : heap_.front().first;
  }

  // Ties broken by id so results are deterministic whatever the visit order.
  void push(float dist, std::int64_t id) {
    if (k_ == 0) return;
    Entry e{dist, id};
    if (heap_.size() < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (e < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = e;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  void clear() { heap_.clear(); }
  std::size_t size() const { return heap_.size(); }

  // Writes the results ascending; slots past the number found get id -1 and +inf.
  void write_sorted(std::int64_t* ids, float* dists) {
    std::sort_heap(heap_.begin(), heap_.end());
    for (std::size_t i = 0; i < k_; ++i) {
      if (i < heap_.size()) {
        ids[i] = heap_[i].second;
        dists[i] = heap_[i].first;
      } else {
        ids[i] = -1;
        dists[i] = std::numeric_limits<float>::infinity();
      }
    }
    heap_.clear();
  }

 private:
  using Entry = std::pair<float, std::int64_t>;
  std::size_t k_;
  std::vector<Entry> heap_;
};

}  // namespace mcindex
