#include "search/mci_search.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "graph/candidate_list.hpp"
#include "parallel.hpp"
#include "search/topk.hpp"

namespace mcindex {
namespace {

constexpr std::size_t kBlock = 512;

// Visited marks live as long as the (pooled OpenMP) thread: a search call then costs no
// O(n) allocation and clearing, which would dominate one-query-at-a-time use.
VisitedSet& thread_points(std::size_t n) {
  thread_local VisitedSet marks;
  if (marks.size() != n) marks.resize(n);
  return marks;
}
VisitedSet& thread_groups(std::size_t n) {
  thread_local VisitedSet marks;
  if (marks.size() != n) marks.resize(n);
  return marks;
}

// A non-negative double as a count, saturating (a planner ratio from a file may be tiny, and
// casting a double beyond the range of uint64 is undefined behaviour).
std::uint64_t saturating(double x) {
  if (!(x < 1.8e19)) return std::numeric_limits<std::uint64_t>::max();
  return x > 0.0 ? static_cast<std::uint64_t>(x) : 0;
}

Strategy plan(const MciSearchParams& p, std::size_t n, std::uint64_t valid) {
  if (p.strategy != Strategy::Auto) return p.strategy;
  if (valid <= p.exact_max_valid) return Strategy::Exact;
  if (static_cast<double>(valid) >= p.graph_min_fraction * static_cast<double>(n)) return Strategy::Graph;
  return Strategy::Mci;
}

// The graph routes for one query at a time (the exact route runs batched, see mci_search).
class Searcher {
 public:
  Searcher(const MciView& ix, const MciSearchParams& p)
      : ix_(ix), p_(p), kern_(&kernels()),
        // ef is raised to k; a list longer than the index holds every point already (and a
        // huge ef or k must not reserve memory for slots that can never fill).
        list_size_(std::max<std::size_t>(1, std::min(std::max(p.ef, p.k), ix.base.n))),
        visited_(thread_points(ix.base.n)), clique_seen_(thread_groups(ix.n_cliques)), top_(p.k, ix.base.n) {
    fresh_.reserve(kBlock);
    dists_.reserve(kBlock);
  }

  // Answers one query by `route`. Returns false when a planner-chosen traversal spent the
  // distance budget first (the filter is anti-correlated with the query, or the valid points are
  // scattered): the caller then answers it with the exact scan, which would have been cheaper.
  bool search(const float* q, const FilterView* f, std::uint64_t valid, Strategy route, std::int64_t* ids,
              float* dists, QueryStats& st) {
    filter_ = (f == nullptr || f->allows_all()) ? nullptr : f;
    top_.clear();
    // Twice the break-even: a query that overruns costs at most about three exact scans, while
    // ordinary queries near the crossover selectivity are not cut off.
    planned_ = p_.strategy == Strategy::Auto;
    std::uint64_t budget = std::numeric_limits<std::uint64_t>::max(), idle_limit = budget;
    if (planned_ && p_.exact_cost_ratio > 0)
      budget = saturating(2.0 * static_cast<double>(valid) / p_.exact_cost_ratio + 256.0);
    if (planned_) {
      // A walk that scores this many points without finding a better valid one is crossing a
      // region the filter excludes (about 8 L valid points would be met at random).
      idle_limit = saturating(8.0 * static_cast<double>(list_size_) * static_cast<double>(ix_.base.n) /
                              static_cast<double>(std::max<std::uint64_t>(valid, 1)) + 256.0);
    }
    bool done = true;
    if (valid > 0)
      done = route == Strategy::Graph ? graph(q, budget, idle_limit, st) : cliques(q, valid, budget, st);
    if (!done) return false;
    st.found = static_cast<std::uint32_t>(top_.size());
    if (st.early_stop == 0 && st.found < std::min<std::uint64_t>(p_.k, valid))
      st.early_stop = static_cast<std::uint32_t>(EarlyStop::Short);
    top_.write_sorted(ids, dists);
    return true;
  }

 private:

  bool allowed(std::uint32_t v) const { return filter_ == nullptr || filter_->bits.test(v); }

  // fresh_ = u's navigable-graph neighbours not visited yet (now marked visited).
  void gather_graph_neighbours(std::uint32_t u) {
    fresh_.clear();
    for (std::uint64_t e = ix_.nav_offsets[u]; e < ix_.nav_offsets[u + 1]; ++e) {
      const std::uint32_t v = ix_.nav_neighbors[e];
      if (!visited_.test_and_set(v)) fresh_.push_back(v);
    }
  }

  // Distances from q to fresh_ (metric form) into dists_.
  void score(const float* q, QueryStats& st) {
    dists_.resize(fresh_.size());
    if (fresh_.empty()) return;
    const VectorView& b = ix_.base;
    if (ix_.metric == Metric::L2) {
      kern_->l2sq_batch(q, b.data, b.stride, b.dim, fresh_.data(), fresh_.size(), dists_.data());
    } else {
      kern_->dot_batch(q, b.data, b.stride, b.dim, fresh_.data(), fresh_.size(), dists_.data());
      const float offset = ix_.metric == Metric::Cosine ? 1.0f : 0.0f;
      for (float& d : dists_) d = offset - d;
    }
    st.distances += fresh_.size();
  }

  // Route 2: the navigable graph, searched as filtered HNSW does: every point steers, only
  // valid points enter the L results, and the candidate heap is unbounded, so the walk goes on
  // through filtered-out regions until the nearest unexpanded candidate is farther than the
  // L-th valid result. (A bounded steering list would stop after L nearest of ALL points and
  // lose recall in proportion to the selectivity.) ACORN-1's two-hop expansion through
  // filtered-out neighbours was tried here and measured slower at equal recall on GloVe at
  // 1-30% (BENCHMARKS.md): it scores fewer points but reads 32x more adjacency lists. Returns false when `budget` distances were
  // spent first (the caller then falls back to the exact scan).
  bool graph(const float* q, std::uint64_t budget, std::uint64_t idle_limit, QueryStats& st) {
    const std::size_t L = list_size_;
    res_.reset(L);
    heap_.clear();
    visited_.next_epoch();
    fresh_.assign(1, ix_.entry);
    visited_.test_and_set(ix_.entry);
    score(q, st);
    push_candidate(dists_[0], ix_.entry);
    last_found_ = st.distances;
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), farther);
      const Near top = heap_.back();
      heap_.pop_back();
      if (res_.full() && top.dist > res_.worst()) break;
      if (st.distances >= budget) return overran(st, Fallback::Budget);
      if (st.distances - last_found_ >= idle_limit) return overran(st, Fallback::Idle);
      ++st.expansions;
      gather_graph_neighbours(top.id);
      score(q, st);
      for (std::size_t j = 0; j < fresh_.size(); ++j)
        if (push_candidate(dists_[j], fresh_[j])) last_found_ = st.distances;
    }
    // (Checking after the walk whether any of its nearest points is valid was tried: on range
    // filters it sent 10-15% of finished walks to the scan for no recall, so the graph route
    // relies on the idle and budget rules, which stop a walk before it has spent much.)
    top_.clear();
    for (std::size_t j = 0; j < res_.size(); ++j) top_.push(res_[j].dist, res_[j].id);
    return true;
  }

  // Returns true when v entered the results.
  bool push_candidate(float d, std::uint32_t v) {
    if (res_.full() && d >= res_.worst()) return false;  // can neither steer nor enter the results
    heap_.push_back(Near{d, v});
    std::push_heap(heap_.begin(), heap_.end(), farther);
    return allowed(v) && res_.insert(d, v);
  }

  // Best-first walk of the navigable graph from the entry point: every point steers (`nav`),
  // valid ones are also offered to `found`. With `stop_early`, the walk ends once the nearest
  // unexpanded point is farther than the worst of a full `found` (the filtered-HNSW rule).
  void filtered_walk(const float* q, CandidateList& nav, CandidateList& found, bool stop_early, QueryStats& st) {
    fresh_.assign(1, ix_.entry);
    visited_.test_and_set(ix_.entry);
    score(q, st);
    nav.insert(dists_[0], ix_.entry);
    if (allowed(ix_.entry)) found.insert(dists_[0], ix_.entry);
    std::size_t i;
    while ((i = nav.next_unexpanded()) < nav.size()) {
      if (stop_early && found.full() && nav[i].dist > found.worst()) break;
      nav.mark_expanded(i);
      ++st.expansions;
      gather_graph_neighbours(nav[i].id);
      score(q, st);
      for (std::size_t j = 0; j < fresh_.size(); ++j) {
        nav.insert(dists_[j], fresh_[j]);
        if (allowed(fresh_[j])) found.insert(dists_[j], fresh_[j]);
      }
    }
  }

  // After the descent, res_ holds the points nearest the query regardless of the filter. If the
  // filter admitted points at random, about res_.size() * valid / n of them would be valid;
  // none at all when at least 3 were expected means the filter excludes the query's
  // neighbourhood, where the traversal would end early on far points (measured: recall 0.2-0.5
  // on the correlated workload). Such queries go to the exact scan. (At 3 expected, a random
  // filter is misjudged with probability about e^-3 = 5%, and then costs one exact scan.)
  //
  // The same test over every point the descent scored (`scored`, all near the query, `found_valid`
  // of them valid) has far more power at low selectivity: at 5% valid the 32 nearest hold 1.6
  // valid points on average, too few to judge, while a descent scoring 300 points meets 15.
  bool anti_correlated(std::uint64_t valid, std::uint64_t scored, std::size_t found_valid) const {
    const double share = static_cast<double>(valid) / static_cast<double>(ix_.base.n);
    return (static_cast<double>(res_.size()) * share >= 3.0 && none_valid(res_)) ||
           (static_cast<double>(scored) * share >= 3.0 && found_valid == 0);
  }

  static bool overran(QueryStats& st, Fallback why) {
    st.fallback = static_cast<std::uint32_t>(why);
    return false;
  }

  bool none_valid(const CandidateList& list) const {
    for (std::size_t j = 0; j < list.size(); ++j)
      if (allowed(list[j].id)) return false;
    return true;
  }

  // The valid point of rank r (0-based) among the allowed ids.
  void spread_seeds(std::uint64_t valid, std::size_t count) {
    fresh_.clear();
    if (filter_ == nullptr) {
      for (std::size_t j = 0; j < count; ++j) fresh_.push_back(static_cast<std::uint32_t>(j * valid / count));
      return;
    }
    if (filter_->ids != nullptr) {
      for (std::size_t j = 0; j < count; ++j) fresh_.push_back(filter_->ids[j * valid / count]);
      return;
    }
    // One pass over the words, taking every (valid / count)-th set bit.
    std::size_t j = 0;
    std::uint64_t rank = 0, want = 0;
    const std::size_t words = (ix_.base.n + 63) / 64;
    for (std::size_t w = 0; w < words && j < count; ++w) {
      std::uint64_t bits = filter_->bits.words[w];
      const std::uint64_t pc = static_cast<std::uint64_t>(__builtin_popcountll(bits));
      while (j < count && want < rank + pc) {
        std::uint64_t b = bits;
        for (std::uint64_t skip = want - rank; skip > 0; --skip) b &= b - 1;
        fresh_.push_back(static_cast<std::uint32_t>((w << 6) + static_cast<std::size_t>(__builtin_ctzll(b))));
        ++j;
        want = j * valid / count;
      }
      rank += pc;
    }
  }

  // Route 3: multi-seed clique traversal. Only valid points are scored and queued; expanding a
  // point scores the unvisited valid members of its unvisited groups (and, optionally, of its
  // navigable-graph neighbours, for long-range links).
  bool cliques(const float* q, std::uint64_t valid, std::uint64_t budget, QueryStats& st) {
    const std::size_t L = list_size_;
    cand_.reset(L);
    visited_.next_epoch();
    clique_seen_.next_epoch();

    // Seeds near the query: a short unfiltered descent of the navigable graph; the valid
    // points it meets enter the list.
    res_.reset(std::min<std::size_t>(L, 32));
    filtered_walk(q, res_, cand_, false, st);
    if (anti_correlated(valid, st.distances, cand_.size())) {
      if (planned_) return overran(st, Fallback::NoValidNear);
      st.early_stop = static_cast<std::uint32_t>(EarlyStop::NoValidNear);
    }
    std::size_t i;
    // Invalid points met on the way may be members of groups later: let them be seen again.
    visited_.next_epoch();
    for (std::size_t j = 0; j < cand_.size(); ++j) visited_.test_and_set(cand_[j].id);

    // Seeds spread evenly over the valid set: reach fragments the descent did not.
    const std::size_t want = p_.seeds > 0 ? p_.seeds : 16 + static_cast<std::size_t>(valid / 512);
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(valid, want));
    spread_seeds(valid, count);
    std::size_t kept = 0;
    for (std::uint32_t v : fresh_) if (!visited_.test_and_set(v)) fresh_[kept++] = v;
    fresh_.resize(kept);
    score(q, st);
    for (std::size_t j = 0; j < fresh_.size(); ++j) cand_.insert(dists_[j], fresh_[j]);
    st.seeds = static_cast<std::uint32_t>(cand_.size());

    const std::size_t idle_window = p_.idle_window > 0 ? p_.idle_window : std::max<std::size_t>(p_.ef, 16);
    const std::size_t max_hops = p_.max_hops > 0 ? p_.max_hops : 8 * L;
    std::size_t idle = 0, hops = 0;
    while ((i = cand_.next_unexpanded()) < cand_.size()) {
      if (st.distances >= budget) return overran(st, Fallback::Budget);
      cand_.mark_expanded(i);
      const std::uint32_t u = cand_[i].id;
      ++st.expansions;
      ++hops;
      const float kth_before = cand_.size() >= p_.k ? cand_[p_.k - 1].dist : std::numeric_limits<float>::infinity();
      fresh_.clear();
      for (std::uint64_t e = ix_.node_offsets[u]; e < ix_.node_offsets[u + 1]; ++e) {
        const std::uint32_t c = ix_.node_cliques[e];
        if (clique_seen_.test_and_set(c)) continue;
        ++st.cliques;
        // The filter first: its bitset is small and cache-resident, while the visited marks
        // span n entries; rejected members then never touch the marks.
        for (std::uint64_t m = ix_.clique_offsets[c]; m < ix_.clique_offsets[c + 1]; ++m) {
          const std::uint32_t v = ix_.clique_members[m];
          if (allowed(v) && !visited_.test_and_set(v)) fresh_.push_back(v);
        }
      }
      if (p_.graph_links) {
        for (std::uint64_t e = ix_.nav_offsets[u]; e < ix_.nav_offsets[u + 1]; ++e) {
          const std::uint32_t v = ix_.nav_neighbors[e];
          if (allowed(v) && !visited_.test_and_set(v)) fresh_.push_back(v);
        }
      }
      score(q, st);
      for (std::size_t j = 0; j < fresh_.size(); ++j) cand_.insert(dists_[j], fresh_[j]);
      const float kth_after = cand_.size() >= p_.k ? cand_[p_.k - 1].dist : std::numeric_limits<float>::infinity();
      idle = kth_after < kth_before ? 0 : idle + 1;
      if (idle >= idle_window) break;
      if (hops >= max_hops) {
        // Cut short while one of the current top k was still waiting to be expanded.
        if (cand_.next_unexpanded() < std::min(p_.k, cand_.size()) && st.early_stop == 0)
          st.early_stop = static_cast<std::uint32_t>(EarlyStop::HopLimit);
        break;
      }
    }
    top_.clear();
    for (std::size_t j = 0; j < cand_.size(); ++j) top_.push(cand_[j].dist, cand_[j].id);
    return true;
  }

  const MciView& ix_;
  const MciSearchParams& p_;
  const DistanceKernels* kern_;
  struct Near {
    float dist;
    std::uint32_t id;
  };
  static bool farther(const Near& a, const Near& b) { return a.dist > b.dist || (a.dist == b.dist && a.id > b.id); }

  const std::size_t list_size_;  // L: the candidate list of the traversals
  const FilterView* filter_ = nullptr;
  std::vector<Near> heap_;  // min-heap (by `farther`) of graph candidates
  std::uint64_t last_found_ = 0;  // distance count when the graph walk last improved its results
  bool planned_ = false;         // the planner chose the route: it may hand the query to the exact scan
  VisitedSet& visited_;
  VisitedSet& clique_seen_;
  CandidateList cand_, res_;
  TopK top_;
  std::vector<std::uint32_t> fresh_;
  std::vector<float> dists_;
};

}  // namespace

namespace {
// Answers `which` queries with one batched exact scan (each block of vectors is read once for a
// group of queries) and records the work in their stats.
void exact_batch(const MciView& index, const float* queries, const std::vector<std::size_t>& which,
                 const FilterView* filters, const std::int32_t* filter_of_query, const MciSearchParams& p,
                 std::int64_t* out_ids, float* out_dists, QueryStats* stats) {
  if (which.empty()) return;
  const std::size_t dim = index.base.dim, m = which.size();
  std::vector<float> qs(m * dim);
  std::vector<std::int32_t> foq(m);
  std::vector<std::int64_t> ids(m * p.k);
  std::vector<float> ds(m * p.k);
  for (std::size_t i = 0; i < m; ++i) {
    std::copy(queries + which[i] * dim, queries + (which[i] + 1) * dim, qs.begin() + static_cast<std::ptrdiff_t>(i * dim));
    foq[i] = filter_of_query != nullptr ? filter_of_query[which[i]] : -1;
  }
  exact_search(index.base, qs.data(), m, filters, foq.data(),
               ExactSearchParams{p.k, index.metric, p.threads, p.interrupt}, ids.data(), ds.data());
  if (p.interrupt != nullptr && p.interrupt->stopped()) return;
  for (std::size_t i = 0; i < m; ++i) {
    std::copy(ids.begin() + static_cast<std::ptrdiff_t>(i * p.k), ids.begin() + static_cast<std::ptrdiff_t>((i + 1) * p.k),
              out_ids + which[i] * p.k);
    std::copy(ds.begin() + static_cast<std::ptrdiff_t>(i * p.k), ds.begin() + static_cast<std::ptrdiff_t>((i + 1) * p.k),
              out_dists + which[i] * p.k);
    QueryStats& st = stats[which[i]];
    st.strategy = static_cast<std::int32_t>(Strategy::Exact);
    st.distances += st.valid;  // the scan scores each valid point once
    st.found = static_cast<std::uint32_t>(std::min<std::uint64_t>(p.k, st.valid));
    st.early_stop = 0;
  }
}
}  // namespace

void mci_search(const MciView& index, const float* queries, std::size_t nq, const FilterView* filters,
                const std::int32_t* filter_of_query, const std::uint64_t* valid_count,
                const MciSearchParams& p, std::int64_t* out_ids, float* out_dists, QueryStats* stats) {
  if (nq == 0) return;
  const std::size_t dim = index.base.dim;
  auto filter_index = [&](std::size_t q) { return filter_of_query != nullptr ? filter_of_query[q] : -1; };

  // Route every query first; the exact ones run together.
  std::vector<Strategy> route(nq);
  std::vector<std::size_t> exact_queries;
  for (std::size_t q = 0; q < nq; ++q) {
    const std::int32_t fi = filter_index(q);
    stats[q] = QueryStats{};
    stats[q].valid = fi >= 0 ? valid_count[fi] : index.base.n;
    route[q] = plan(p, index.base.n, stats[q].valid);
    stats[q].strategy = static_cast<std::int32_t>(route[q]);
    if (route[q] == Strategy::Exact) exact_queries.push_back(q);
  }
  exact_batch(index, queries, exact_queries, filters, filter_of_query, p, out_ids, out_dists, stats);
  if (exact_queries.size() == nq) return;

  if (p.interrupt != nullptr && p.interrupt->stopped()) return;

  const int threads = std::max(1, std::min<int>(p.threads, static_cast<int>(nq - exact_queries.size())));
  std::vector<std::vector<std::size_t>> overran(static_cast<std::size_t>(threads));
  struct Scratch {
    std::unique_ptr<Searcher> searcher;
    std::vector<std::size_t>* overran;
  };
  parallel_for(
      nq, threads, 4, p.interrupt,
      [&] {
        return Scratch{std::make_unique<Searcher>(index, p), &overran[static_cast<std::size_t>(omp_get_thread_num())]};
      },
      [&](Scratch& s, std::size_t q) {
        if (route[q] == Strategy::Exact) return;
        const std::int32_t fi = filter_index(q);
        if (!s.searcher->search(queries + q * dim, fi >= 0 ? &filters[fi] : nullptr, stats[q].valid, route[q],
                                out_ids + q * p.k, out_dists + q * p.k, stats[q])) {
          s.overran->push_back(q);
        }
      });
  if (p.interrupt != nullptr && p.interrupt->stopped()) return;
  std::vector<std::size_t> fallback;
  for (const auto& list : overran) fallback.insert(fallback.end(), list.begin(), list.end());
  std::sort(fallback.begin(), fallback.end());
  exact_batch(index, queries, fallback, filters, filter_of_query, p, out_ids, out_dists, stats);
}

}  // namespace mcindex
