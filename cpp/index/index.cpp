#include "index/index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/exact_search.hpp"
#include "search/planner.hpp"
#include "search/traversal.hpp"

namespace mcindex {
namespace {

void check_csr(const Csr& c, std::size_t bound, const char* what) {
  auto fail = [what](const std::string& problem) {
    throw std::invalid_argument(std::string(what) + ": " + problem);
  };
  if (c.offsets == nullptr) fail("no offsets");
  if (c.offsets[0] != 0) fail("offsets do not start at 0");
  for (std::size_t i = 0; i < c.rows; ++i)
    if (c.offsets[i + 1] < c.offsets[i]) fail("offsets decrease at row " + std::to_string(i));
  if (c.offsets[c.rows] != c.n_values) fail("offsets do not end at the number of values");
  for (std::size_t i = 0; i < c.n_values; ++i)
    if (c.values[i] >= bound) fail("value " + std::to_string(i) + " is out of range");
}

// Answers `which` queries with one batched exact scan (each block of vectors is read once for a
// group of queries) and records the work in their stats.
void exact_batch(const IndexData& ix, const DistanceFactory& distance, const float* queries,
                 const std::vector<std::size_t>& which, const Filter* filters, const std::int32_t* filter_of_query,
                 const SearchParams& p, std::int64_t* out_ids, float* out_dists, QueryStats* stats) {
  if (which.empty()) return;
  const std::size_t dim = ix.vectors.dim, m = which.size(), n = ix.size();
  const ExactSearchParams ep{p.k, p.threads, p.interrupt};
  if (m == 1) {  // one query: no gathering
    const std::size_t q = which[0];
    exact_search(n, dim, distance, queries + q * dim, 1, filters,
                 filter_of_query != nullptr ? filter_of_query + q : nullptr, ep, out_ids + q * p.k, out_dists + q * p.k);
  } else {
    std::vector<float> qs(m * dim);
    std::vector<std::int32_t> foq(m);
    std::vector<std::int64_t> ids(m * p.k);
    std::vector<float> ds(m * p.k);
    for (std::size_t i = 0; i < m; ++i) {
      std::copy(queries + which[i] * dim, queries + (which[i] + 1) * dim, qs.begin() + static_cast<std::ptrdiff_t>(i * dim));
      foq[i] = filter_of_query != nullptr ? filter_of_query[which[i]] : -1;
    }
    exact_search(n, dim, distance, qs.data(), m, filters, foq.data(), ep, ids.data(), ds.data());
    if (p.interrupt != nullptr && p.interrupt->stopped()) return;
    for (std::size_t i = 0; i < m; ++i) {
      std::copy_n(ids.begin() + static_cast<std::ptrdiff_t>(i * p.k), p.k, out_ids + which[i] * p.k);
      std::copy_n(ds.begin() + static_cast<std::ptrdiff_t>(i * p.k), p.k, out_dists + which[i] * p.k);
    }
  }
  for (std::size_t q : which) {
    QueryStats& st = stats[q];
    st.strategy = static_cast<std::int32_t>(Strategy::Exact);
    st.distances += st.valid;  // the scan scores each valid node once
    st.found = static_cast<std::uint32_t>(std::min<std::uint64_t>(p.k, st.valid));
    st.early_stop = 0;
  }
}

// Whether a point whose code distance is at least `code` (the last of a full candidate list) can
// be nearer than `kth`, the k-th true distance among the candidates: a code misplaces a vector by
// at most max_error in L2 (exceptions are exact), which bounds the distance it can hide.
bool may_hide_nearer(const Sq8Storage& c, const float* q, std::size_t dim, float kth, float code) {
  const double e = c.max_error, slack = 1e-5 * (std::abs(static_cast<double>(kth)) + std::abs(static_cast<double>(code))) + 1e-12;
  switch (c.metric) {
    case Metric::L2: return std::sqrt(std::max(0.0, static_cast<double>(kth))) + e + slack > std::sqrt(std::max(0.0, static_cast<double>(code)));
    case Metric::Cosine:  // half the squared L2 between unit vectors
      return std::sqrt(std::max(0.0, 2.0 * kth)) + e + slack > std::sqrt(std::max(0.0, 2.0 * code));
    case Metric::IP: {
      double norm = 0;
      for (std::size_t j = 0; j < dim; ++j) norm += static_cast<double>(q[j]) * q[j];
      return static_cast<double>(kth) + std::sqrt(norm) * e + slack > code;
    }
  }
  return true;
}

// Each query's candidates (nq x width, -1 padded, ranked by their codes), re-scored with the float
// vectors: the k nearest by their true distances into out (ties by id, -1 / +inf padded). A
// query whose full list could hide a nearer point (may_hide_nearer) says so in its stats.
void rerank(const IndexData& ix, const float* queries, std::size_t nq, const std::int64_t* cand,
            const float* cand_dists, std::size_t width, const SearchParams& p, std::int64_t* out_ids,
            float* out_dists, QueryStats* stats) {
  struct Scratch {
    FlatDistance dist;
    std::vector<std::uint32_t> ids;
    std::vector<float> dists;
    std::vector<std::pair<float, std::uint32_t>> order;
  };
  parallel_for(
      nq, std::max(1, std::min<int>(p.threads, static_cast<int>(nq))), 16, p.interrupt,
      [&] { return Scratch{FlatDistance(ix.vectors), {}, {}, {}}; },
      [&](Scratch& s, std::size_t q) {
        s.ids.clear();
        for (std::size_t j = 0; j < width; ++j)
          if (cand[q * width + j] >= 0) s.ids.push_back(static_cast<std::uint32_t>(cand[q * width + j]));
        s.dists.resize(s.ids.size());
        s.dist.set_query(queries + q * ix.vectors.dim);
        s.dist.batch(s.ids.data(), s.ids.size(), s.dists.data());
        stats[q].distances += s.ids.size();
        s.order.clear();
        for (std::size_t j = 0; j < s.ids.size(); ++j) s.order.emplace_back(s.dists[j], s.ids[j]);
        const std::size_t keep = std::min(p.k, s.order.size());
        std::partial_sort(s.order.begin(), s.order.begin() + static_cast<std::ptrdiff_t>(keep), s.order.end());
        for (std::size_t j = 0; j < p.k; ++j) {
          out_ids[q * p.k + j] = j < keep ? static_cast<std::int64_t>(s.order[j].second) : -1;
          out_dists[q * p.k + j] = j < keep ? s.order[j].first : std::numeric_limits<float>::infinity();
        }
        stats[q].found = static_cast<std::uint32_t>(keep);
        const bool full = s.ids.size() == width && width < stats[q].valid;
        if (full && keep == p.k && stats[q].early_stop == 0 &&
            may_hide_nearer(ix.codes, queries + q * ix.vectors.dim, ix.vectors.dim, s.order[keep - 1].first,
                            cand_dists[q * width + width - 1]))
          stats[q].early_stop = static_cast<std::uint32_t>(EarlyStop::Rerank);
      });
}

}  // namespace

Index::Index(const IndexData& d) : data_(d) {
  data_.codes.vectors = &data_.vectors;  // the exceptions' float rows: this index's own view
  const std::size_t n = d.vectors.n;
  if (n >= 0xFFFFFFFFull) throw std::invalid_argument("at most 2^32 - 2 nodes are supported");
  if (d.vectors.dim == 0 || d.vectors.stride < d.vectors.dim) throw std::invalid_argument("vectors: bad dim or stride");
  if (n > 0 && d.vectors.data == nullptr) throw std::invalid_argument("vectors: no data");
  if (d.nav.rows != n || d.node_cliques.rows != n) throw std::invalid_argument("graph rows differ from the nodes");
  if (d.clique_members.rows >= 0xFFFFFFFFull) throw std::invalid_argument("too many cliques");
  if (n > 0 && d.entry >= n) throw std::invalid_argument("entry point out of range");
  if (d.codes.present() && (d.codes.n != n || d.codes.dim != d.vectors.dim || d.codes.stride < d.codes.dim ||
                            d.codes.lo == nullptr || d.codes.scale == nullptr || d.codes.metric != d.vectors.metric))
    throw std::invalid_argument("codes: shape or ranges disagree with the vectors");
  check_csr(d.nav, n, "navigable graph");
  check_csr(d.clique_members, n, "clique members");
  check_csr(d.node_cliques, d.clique_members.rows, "node cliques");
}

void Index::search(const float* queries, std::size_t nq, const Filter* filters, const std::int32_t* filter_of_query,
                   const SearchParams& p, std::int64_t* out_ids, float* out_dists, QueryStats* stats) const {
  if (nq == 0) return;
  const DistanceFactory flat = [this] { return std::make_unique<FlatDistance>(data_.vectors); };
  if (!data_.codes.present()) {
    search_by(flat, queries, nq, filters, filter_of_query, p, out_ids, out_dists, stats);
    return;
  }
  // Codes: every strategy ranks candidates by their codes, keeping max(k, rerank) of them, and
  // the float vectors re-score that short list (read from memory or, memory-mapped, from disk).
  SearchParams pc = p;
  pc.k = std::min(std::max(p.k, p.rerank), std::max<std::size_t>(size(), 1));
  pc.ef = std::max(pc.ef, pc.k);
  // A planned (or exact) query allowing no more points than the re-rank list would re-score them
  // all anyway: it scans the float vectors once instead. A forced traversal runs as asked.
  const bool may_scan = p.strategy == Strategy::Auto || p.strategy == Strategy::Exact;
  std::vector<std::size_t> small, coded;
  for (std::size_t q = 0; q < nq; ++q) {
    const std::int32_t f = filter_of_query != nullptr ? filter_of_query[q] : -1;
    const std::size_t valid = f >= 0 && !filters[f].allows_all() ? filters[f].count : size();
    const bool scan = may_scan && valid <= pc.k;
    (scan ? small : coded).push_back(q);
    if (scan) stats[q] = QueryStats{}, stats[q].valid = valid;
  }
  exact_batch(data_, flat, queries, small, filters, filter_of_query, p, out_ids, out_dists, stats);
  if (coded.empty() || (p.interrupt != nullptr && p.interrupt->stopped())) return;
  // The coded queries run in chunks: the candidate lists (rerank ids and distances per query)
  // stay a few MB whatever the batch, and an interrupt is seen between chunks too.
  const std::size_t dim = data_.vectors.dim;
  const std::size_t chunk = std::max<std::size_t>(64, (std::size_t{8} << 20) / (12 * pc.k));
  const DistanceFactory codes = [this] { return std::make_unique<Sq8Distance>(data_.codes); };
  std::vector<float> qbuf;
  std::vector<std::int32_t> fbuf;
  std::vector<QueryStats> sbuf;
  std::vector<std::int64_t> cand_ids, ids;
  std::vector<float> cand_dists, dists;
  std::vector<std::size_t> rescan;
  for (std::size_t c0 = 0; c0 < coded.size(); c0 += chunk) {
    const std::size_t m = std::min(chunk, coded.size() - c0);
    const std::size_t* which = coded.data() + c0;
    qbuf.resize(m * dim), sbuf.resize(m);
    if (filter_of_query != nullptr) fbuf.resize(m);
    for (std::size_t i = 0; i < m; ++i) {
      std::copy_n(queries + which[i] * dim, dim, qbuf.begin() + static_cast<std::ptrdiff_t>(i * dim));
      if (filter_of_query != nullptr) fbuf[i] = filter_of_query[which[i]];
    }
    const std::int32_t* cf = filter_of_query != nullptr ? fbuf.data() : nullptr;
    cand_ids.resize(m * pc.k), cand_dists.resize(m * pc.k), ids.resize(m * p.k), dists.resize(m * p.k);
    search_by(codes, qbuf.data(), m, filters, cf, pc, cand_ids.data(), cand_dists.data(), sbuf.data());
    if (p.interrupt != nullptr && p.interrupt->stopped()) return;
    rerank(data_, qbuf.data(), m, cand_ids.data(), cand_dists.data(), pc.k, p, ids.data(), dists.data(),
           sbuf.data());
    if (p.interrupt != nullptr && p.interrupt->stopped()) return;
    // The exact strategy stays exact: a query whose list could hide a nearer point (rare: near
    // ties far from the query) is scanned again with the float vectors.
    rescan.clear();
    for (std::size_t i = 0; i < m; ++i)
      if (sbuf[i].strategy == static_cast<std::int32_t>(Strategy::Exact) &&
          sbuf[i].early_stop == static_cast<std::uint32_t>(EarlyStop::Rerank))
        rescan.push_back(i);
    exact_batch(data_, flat, qbuf.data(), rescan, filters, cf, p, ids.data(), dists.data(), sbuf.data());
    if (p.interrupt != nullptr && p.interrupt->stopped()) return;
    for (std::size_t i = 0; i < m; ++i) {
      std::copy_n(ids.begin() + static_cast<std::ptrdiff_t>(i * p.k), p.k, out_ids + which[i] * p.k);
      std::copy_n(dists.begin() + static_cast<std::ptrdiff_t>(i * p.k), p.k, out_dists + which[i] * p.k);
      stats[which[i]] = sbuf[i];
    }
  }
}

void Index::search_by(const DistanceFactory& distance, const float* queries, std::size_t nq, const Filter* filters,
                      const std::int32_t* filter_of_query, const SearchParams& p, std::int64_t* out_ids,
                      float* out_dists, QueryStats* stats) const {
  const IndexData& ix = data_;
  const std::size_t dim = ix.vectors.dim, n = ix.size();
  auto filter_of = [&](std::size_t q) -> const Filter* {
    const std::int32_t f = filter_of_query != nullptr ? filter_of_query[q] : -1;
    return f >= 0 ? &filters[f] : nullptr;
  };

  // Choose every query's strategy first; the exact ones run together.
  std::vector<Strategy> strategy(nq);
  std::vector<std::size_t> exact_queries;
  for (std::size_t q = 0; q < nq; ++q) {
    const Filter* f = filter_of(q);
    stats[q] = QueryStats{};
    stats[q].valid = f != nullptr && !f->allows_all() ? f->count : n;
    strategy[q] = plan(p, n, stats[q].valid);
    stats[q].strategy = static_cast<std::int32_t>(strategy[q]);
    if (strategy[q] == Strategy::Exact) exact_queries.push_back(q);
  }
  exact_batch(ix, distance, queries, exact_queries, filters, filter_of_query, p, out_ids, out_dists, stats);
  if (exact_queries.size() == nq) return;
  if (p.interrupt != nullptr && p.interrupt->stopped()) return;

  const int threads = std::max(1, std::min<int>(p.threads, static_cast<int>(nq - exact_queries.size())));
  std::vector<std::vector<std::size_t>> overran(static_cast<std::size_t>(threads));
  struct Scratch {
    std::unique_ptr<DistanceComputer> dist;
    std::vector<std::size_t>* overran;
  };
  parallel_for(
      nq, threads, 4, p.interrupt,
      [&] { return Scratch{distance(), &overran[static_cast<std::size_t>(omp_get_thread_num())]}; },
      [&](Scratch& s, std::size_t q) {
        if (strategy[q] == Strategy::Exact) return;
        s.dist->set_query(queries + q * dim);
        TraversalScratch& scratch = thread_scratch();
        Traversal t(ix, *s.dist, filter_of(q), p, scratch, stats[q]);
        if (t.run(strategy[q])) scratch.top.write_sorted(out_ids + q * p.k, out_dists + q * p.k);
        else s.overran->push_back(q);
      });
  if (p.interrupt != nullptr && p.interrupt->stopped()) return;
  std::vector<std::size_t> fallback;
  for (const auto& list : overran) fallback.insert(fallback.end(), list.begin(), list.end());
  std::sort(fallback.begin(), fallback.end());
  exact_batch(ix, distance, queries, fallback, filters, filter_of_query, p, out_ids, out_dists, stats);
}

}  // namespace mcindex
