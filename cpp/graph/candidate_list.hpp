// Scratch for best-first graph search: a bounded sorted candidate list and epoch-stamped
// visited marks. One of each per thread; reused across queries without clearing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mcindex {

struct Candidate {
  float dist;
  std::uint32_t id;
  bool expanded;
};

// Keeps the `capacity` nearest candidates seen, ascending by (dist, id).
class CandidateList {
 public:
  explicit CandidateList(std::size_t capacity = 0) { reset(capacity); }

  void reset(std::size_t capacity) {
    capacity_ = capacity;
    items_.clear();
    items_.reserve(capacity + 1);
    cursor_ = 0;
  }

  std::size_t size() const { return items_.size(); }
  const Candidate& operator[](std::size_t i) const { return items_[i]; }
  bool full() const { return items_.size() >= capacity_; }
  float worst() const { return items_.back().dist; }

  // Returns false when the candidate does not make the list.
  bool insert(float dist, std::uint32_t id) {
    if (capacity_ == 0) return false;
    if (full() && !less(dist, id, items_.back())) return false;
    auto pos = std::upper_bound(items_.begin(), items_.end(), Candidate{dist, id, false},
                                [](const Candidate& a, const Candidate& b) { return less(a.dist, a.id, b); });
    std::size_t at = static_cast<std::size_t>(pos - items_.begin());
    items_.insert(pos, Candidate{dist, id, false});
    if (items_.size() > capacity_) items_.pop_back();
    if (at < cursor_) cursor_ = at;
    return true;
  }

  // Index of the nearest unexpanded candidate, or size() when all are expanded.
  std::size_t next_unexpanded() {
    while (cursor_ < items_.size() && items_[cursor_].expanded) ++cursor_;
    return cursor_;
  }
  void mark_expanded(std::size_t i) { items_[i].expanded = true; }

 private:
  static bool less(float d, std::uint32_t id, const Candidate& b) {
    return d < b.dist || (d == b.dist && id < b.id);
  }
  std::size_t capacity_ = 0;
  std::size_t cursor_ = 0;
  std::vector<Candidate> items_;
};

// visited(i) is true when mark[i] equals the current epoch; a new search bumps the epoch
// instead of clearing n entries.
class VisitedSet {
 public:
  explicit VisitedSet(std::size_t n = 0) : marks_(n, 0) {}
  void resize(std::size_t n) { marks_.assign(n, 0); epoch_ = 1; }
  std::size_t size() const { return marks_.size(); }
  void next_epoch() {
    if (++epoch_ == 0) {  // wrapped: clear once every 2^32 searches
      std::fill(marks_.begin(), marks_.end(), 0);
      epoch_ = 1;
    }
  }
  bool test_and_set(std::uint32_t i) {
    if (marks_[i] == epoch_) return true;
    marks_[i] = epoch_;
    return false;
  }

 private:
  std::vector<std::uint32_t> marks_;
  std::uint32_t epoch_ = 1;
};

}  // namespace mcindex
