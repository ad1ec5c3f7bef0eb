// The two graph strategies of a search, for one query at a time: the navigable graph walked as
// filtered HNSW walks its graph (graph_walk.cpp) and the multi-seed clique traversal
// (clique_traversal.cpp). Both see the index through IndexData, vectors only through a
// DistanceComputer, and the filter only through Filter::test and Filter::spread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "filter.hpp"
#include "graph/candidate_list.hpp"
#include "index/index_data.hpp"
#include "search/planner.hpp"
#include "search/search_params.hpp"
#include "search/topk.hpp"

namespace mcindex {

// What one thread reuses from query to query and call to call: nothing a single query needs is
// allocated per call once the thread has answered one query of this size (visited marks alone
// are 4 bytes per node, and clearing them per call would dominate one-query-per-call use).
struct TraversalScratch {
  struct Near {
    float dist;
    std::uint32_t id;
  };
  VisitedSet visited;      // nodes
  VisitedSet cliques_seen; // cliques
  CandidateList list, near;
  std::vector<Near> heap;  // graph walk: min-heap (by farther) of candidates
  std::vector<std::uint32_t> fresh;
  std::vector<float> dists;
  TopK top;

  // Sized for an index of n nodes and c cliques; cheap when already so.
  void prepare(std::size_t n, std::size_t c) {
    if (visited.size() != n) visited.resize(n);
    if (cliques_seen.size() != c) cliques_seen.resize(c);
  }
};

// This thread's scratch (thread_local: OpenMP keeps its pool of threads between calls).
TraversalScratch& thread_scratch();

class Traversal {
 public:
  Traversal(const IndexData& ix, DistanceComputer& dist, const Filter* filter, const SearchParams& p,
            TraversalScratch& s, QueryStats& st)
      : ix_(ix), dist_(dist), filter_(filter != nullptr && !filter->allows_all() ? filter : nullptr), p_(p),
        s_(s), st_(st), list_size_(p.list_size(ix.size())),
        limits_(TraversalLimits::of(p, ix.size(), st.valid, list_size_)) {}

  // Answers the query (set on the distance computer) by `strategy`, leaving the results in the
  // scratch's top k. Returns false when a planned traversal stopped to hand the query to the
  // exact scan (st.fallback says why).
  bool run(Strategy strategy);

 private:
  bool allowed(std::uint32_t v) const { return filter_ == nullptr || filter_->test(v); }
  void score();  // distances to s_.fresh into s_.dists
  bool overran(Fallback why);

  // graph_walk.cpp
  bool graph();
  bool push_candidate(float d, std::uint32_t v);
  std::size_t descend(CandidateList& nearest, CandidateList& found);
  void gather_nav(std::uint32_t u);

  // clique_traversal.cpp
  bool cliques();
  void seed_spread();
  void expand(std::uint32_t u);

  const IndexData& ix_;
  DistanceComputer& dist_;
  const Filter* filter_;  // nullptr: every node passes
  const SearchParams& p_;
  TraversalScratch& s_;
  QueryStats& st_;
  const std::size_t list_size_;  // the traversals' candidate list (ef raised to k, at most n)
  const TraversalLimits limits_;
};

}  // namespace mcindex
