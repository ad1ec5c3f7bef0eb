// Strategy "graph": the navigable graph searched as filtered HNSW searches its graph; and the
// descent towards the query that seeds the clique traversal. Also what both strategies share.
#include <algorithm>
#include <limits>

#include "search/traversal.hpp"

namespace mcindex {

TraversalScratch& thread_scratch() {
  thread_local TraversalScratch scratch;
  return scratch;
}

namespace {
bool farther(const TraversalScratch::Near& a, const TraversalScratch::Near& b) {
  return a.dist > b.dist || (a.dist == b.dist && a.id > b.id);
}
}  // namespace

bool Traversal::run(Strategy strategy) {
  s_.top.reset(p_.k);
  s_.prepare(ix_.size(), ix_.cliques());
  bool done = true;
  if (st_.valid > 0) done = strategy == Strategy::Graph ? graph() : cliques();
  if (!done) return false;
  st_.found = static_cast<std::uint32_t>(s_.top.size());
  if (st_.early_stop == 0 && st_.found < std::min<std::uint64_t>(p_.k, st_.valid))
    st_.early_stop = static_cast<std::uint32_t>(EarlyStop::Short);
  return true;
}

void Traversal::score() {
  s_.dists.resize(s_.fresh.size());
  dist_.batch(s_.fresh.data(), s_.fresh.size(), s_.dists.data());
  st_.distances += s_.fresh.size();
}

bool Traversal::overran(Fallback why) {
  st_.fallback = static_cast<std::uint32_t>(why);
  return false;
}

// s_.fresh = u's navigable-graph neighbours not visited yet (now marked visited).
void Traversal::gather_nav(std::uint32_t u) {
  s_.fresh.clear();
  for (std::uint64_t e = ix_.nav.begin(u); e < ix_.nav.end(u); ++e) {
    const std::uint32_t v = ix_.nav.values[e];
    if (!s_.visited.test_and_set(v)) s_.fresh.push_back(v);
  }
}

// Every node steers, only valid nodes enter the L results, and the candidate heap is unbounded,
// so the walk goes on through filtered-out regions until the nearest unexpanded candidate is
// farther than the L-th valid result. (A bounded steering list would stop after the L nearest of
// ALL nodes and lose recall in proportion to the selectivity.) A planned walk stops when it has
// spent the exact scan's budget, or gone idle (see TraversalLimits).
bool Traversal::graph() {
  CandidateList& res = s_.list;
  res.reset(list_size_);
  s_.heap.clear();
  s_.visited.next_epoch();
  s_.fresh.assign(1, ix_.entry);
  s_.visited.test_and_set(ix_.entry);
  score();
  push_candidate(s_.dists[0], ix_.entry);
  std::uint64_t last_found = st_.distances;
  while (!s_.heap.empty()) {
    std::pop_heap(s_.heap.begin(), s_.heap.end(), farther);
    const TraversalScratch::Near top = s_.heap.back();
    s_.heap.pop_back();
    if (res.full() && top.dist > res.worst()) break;
    if (st_.distances >= limits_.budget) return overran(Fallback::Budget);
    if (st_.distances - last_found >= limits_.idle) return overran(Fallback::Idle);
    ++st_.expansions;
    gather_nav(top.id);
    score();
    for (std::size_t j = 0; j < s_.fresh.size(); ++j)
      if (push_candidate(s_.dists[j], s_.fresh[j])) last_found = st_.distances;
  }
  for (std::size_t j = 0; j < res.size(); ++j) s_.top.push(res[j].dist, res[j].id);
  return true;
}

// Returns true when v entered the results.
bool Traversal::push_candidate(float d, std::uint32_t v) {
  CandidateList& res = s_.list;
  if (res.full() && d >= res.worst()) return false;  // can neither steer nor enter the results
  s_.heap.push_back(TraversalScratch::Near{d, v});
  std::push_heap(s_.heap.begin(), s_.heap.end(), farther);
  return allowed(v) && res.insert(d, v);
}

// Best-first walk of the navigable graph from the entry point until `nearest` (every node, valid
// or not) has no unexpanded candidate; the valid nodes it scores are offered to `found`. Returns
// how many valid nodes it scored.
std::size_t Traversal::descend(CandidateList& nearest, CandidateList& found) {
  std::size_t valid_scored = 0;
  s_.fresh.assign(1, ix_.entry);
  s_.visited.test_and_set(ix_.entry);
  score();
  nearest.insert(s_.dists[0], ix_.entry);
  if (allowed(ix_.entry)) {
    found.insert(s_.dists[0], ix_.entry);
    ++valid_scored;
  }
  std::size_t i;
  while ((i = nearest.next_unexpanded()) < nearest.size()) {
    nearest.mark_expanded(i);
    ++st_.expansions;
    gather_nav(nearest[i].id);
    score();
    for (std::size_t j = 0; j < s_.fresh.size(); ++j) {
      nearest.insert(s_.dists[j], s_.fresh[j]);
      if (allowed(s_.fresh[j])) {
        found.insert(s_.dists[j], s_.fresh[j]);
        ++valid_scored;
      }
    }
  }
  return valid_scored;
}

}  // namespace mcindex
