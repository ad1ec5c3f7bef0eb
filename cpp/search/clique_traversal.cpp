// Strategy "mci": the multi-seed clique traversal. Only valid nodes are scored and queued;
// expanding a node scores the unvisited valid members of its unexpanded cliques (and, with
// graph_links, of its navigable-graph neighbours, which reach further than a clique does).
#include <algorithm>
#include <limits>

#include "search/traversal.hpp"

namespace mcindex {

bool Traversal::cliques() {
  CandidateList& cand = s_.list;
  cand.reset(list_size_);
  s_.visited.next_epoch();
  s_.cliques_seen.next_epoch();

  // Seeds near the query: an unfiltered descent of the navigable graph; the valid nodes it
  // scores enter the list.
  CandidateList& nearest = s_.near;
  nearest.reset(std::min<std::size_t>(list_size_, 32));
  const std::uint64_t scored_before = st_.distances;
  const std::size_t valid_scored = descend(nearest, cand);
  std::size_t valid_near = 0;
  for (std::size_t j = 0; j < nearest.size(); ++j) valid_near += allowed(nearest[j].id) ? 1 : 0;
  if (anti_correlated(st_.valid, ix_.size(), nearest.size(), valid_near, st_.distances - scored_before,
                      valid_scored)) {
    if (limits_.planned) return overran(Fallback::NoValidNear);
    st_.early_stop = static_cast<std::uint32_t>(EarlyStop::NoValidNear);
  }
  // Invalid nodes met on the way may be members of cliques later: let them be seen again.
  s_.visited.next_epoch();
  for (std::size_t j = 0; j < cand.size(); ++j) s_.visited.test_and_set(cand[j].id);

  // Seeds spread evenly over the valid set: they reach fragments the descent did not.
  seed_spread();
  st_.seeds = static_cast<std::uint32_t>(cand.size());

  const std::size_t idle_window = p_.idle_window > 0 ? p_.idle_window : std::max<std::size_t>(p_.ef, 16);
  const std::size_t max_hops = p_.max_hops > 0 ? p_.max_hops : 8 * list_size_;
  const float inf = std::numeric_limits<float>::infinity();
  std::size_t idle = 0, hops = 0, i;
  while ((i = cand.next_unexpanded()) < cand.size()) {
    if (st_.distances >= limits_.budget) return overran(Fallback::Budget);
    cand.mark_expanded(i);
    ++hops;
    const float kth_before = cand.size() >= p_.k ? cand[p_.k - 1].dist : inf;
    expand(cand[i].id);
    const float kth_after = cand.size() >= p_.k ? cand[p_.k - 1].dist : inf;
    idle = kth_after < kth_before ? 0 : idle + 1;
    if (idle >= idle_window) break;
    if (hops >= max_hops) {
      // Cut short while one of the current top k was still waiting to be expanded.
      if (cand.next_unexpanded() < std::min(p_.k, cand.size()) && st_.early_stop == 0)
        st_.early_stop = static_cast<std::uint32_t>(EarlyStop::HopLimit);
      break;
    }
  }
  for (std::size_t j = 0; j < cand.size(); ++j) s_.top.push(cand[j].dist, cand[j].id);
  return true;
}

void Traversal::seed_spread() {
  // When the list can hold every valid node, every one is seeded: a valid node whose cliques and
  // graph neighbours are all filtered out could not be reached any other way.
  const std::size_t want = st_.valid <= list_size_ ? list_size_
                           : p_.seeds > 0 ? p_.seeds : 16 + static_cast<std::size_t>(st_.valid / 512);
  const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(st_.valid, want));
  s_.fresh.clear();
  const Filter all{nullptr, ix_.size(), ix_.size()};
  (filter_ != nullptr ? *filter_ : all).spread(count, [&](std::uint32_t v) {
    if (!s_.visited.test_and_set(v)) s_.fresh.push_back(v);
  });
  score();
  for (std::size_t j = 0; j < s_.fresh.size(); ++j) s_.list.insert(s_.dists[j], s_.fresh[j]);
}

void Traversal::expand(std::uint32_t u) {
  ++st_.expansions;
  s_.fresh.clear();
  for (std::uint64_t e = ix_.node_cliques.begin(u); e < ix_.node_cliques.end(u); ++e) {
    const std::uint32_t c = ix_.node_cliques.values[e];
    if (s_.cliques_seen.test_and_set(c)) continue;
    ++st_.cliques;
    // The filter first: its bitset is small and cache-resident, while the visited marks span
    // n entries; rejected members then never touch the marks.
    for (std::uint64_t m = ix_.clique_members.begin(c); m < ix_.clique_members.end(c); ++m) {
      const std::uint32_t v = ix_.clique_members.values[m];
      if (allowed(v) && !s_.visited.test_and_set(v)) s_.fresh.push_back(v);
    }
  }
  if (p_.graph_links) {
    for (std::uint64_t e = ix_.nav.begin(u); e < ix_.nav.end(u); ++e) {
      const std::uint32_t v = ix_.nav.values[e];
      if (allowed(v) && !s_.visited.test_and_set(v)) s_.fresh.push_back(v);
    }
  }
  score();
  for (std::size_t j = 0; j < s_.fresh.size(); ++j) s_.list.insert(s_.dists[j], s_.fresh[j]);
}

}  // namespace mcindex
