// nanobind glue only: bind the index object and the parameter structs, check what could make
// the core read out of bounds, release the GIL, call the core. The Python layer
// (src/mcindex/*.py) checks user input first and gives the friendly messages.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bindings/arrays.hpp"
#include "bindings/python_signals.hpp"
#include "cliques/bron_kerbosch.hpp"
#include "distance/distance.hpp"
#include "index/build.hpp"
#include "index/index.hpp"
#include "search/exact_search.hpp"

namespace nb = nanobind;
using namespace mcindex;
using namespace mcindex::bindings;

namespace {

// ---- names shared with Python --------------------------------------------------------------
constexpr const char* kMetricNames[] = {"l2", "ip", "cosine"};
constexpr const char* kStrategyNames[] = {"auto", "mci", "graph", "exact"};

Metric parse_metric(const std::string& name) {
  for (int i = 0; i < 3; ++i)
    if (name == kMetricNames[i]) return static_cast<Metric>(i);
  throw std::invalid_argument("metric must be 'l2', 'ip' or 'cosine', got '" + name + "'");
}

Strategy parse_strategy(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == kStrategyNames[i]) return static_cast<Strategy>(i);
  throw std::invalid_argument("strategy must be 'auto', 'mci', 'graph' or 'exact', got '" + name + "'");
}

// ---- kernels and testing aids --------------------------------------------------------------
SimdLevel parse_level(const std::string& name) {
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON})
    if (name == simd_level_name(l)) return l;
  throw std::invalid_argument("unknown SIMD level '" + name + "'");
}

std::vector<std::string> available_levels() {
  std::vector<std::string> out;
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON})
    if (kernels_for(l) != nullptr) out.emplace_back(simd_level_name(l));
  return out;
}

// All pairwise raw kernel values (l2sq or dot) with one chosen level; for the kernel tests.
Owned2<float> kernel_pairwise(const std::string& level, const std::string& kind, Matrix a, Matrix b, bool batched) {
  const DistanceKernels* k = kernels_for(parse_level(level));
  if (k == nullptr) throw std::invalid_argument("SIMD level '" + level + "' is not available here");
  if (kind != "l2sq" && kind != "dot") throw std::invalid_argument("kind must be 'l2sq' or 'dot'");
  if (a.shape(1) != b.shape(1)) throw std::invalid_argument("a and b must have the same dimension");
  const std::size_t m = a.shape(0), n = b.shape(0), dim = a.shape(1);
  auto out = owned_matrix<float>(m, n);
  float* o = out.data();
  const bool l2 = kind == "l2sq";
  std::vector<unsigned> ids(n);
  for (std::size_t j = 0; j < n; ++j) ids[j] = static_cast<unsigned>(n - 1 - j);  // exercise gathers
  std::vector<float> tmp(n);
  for (std::size_t i = 0; i < m; ++i) {
    const float* q = a.data() + i * dim;
    if (batched) {
      (l2 ? k->l2sq_batch : k->dot_batch)(q, b.data(), dim, dim, ids.data(), n, tmp.data());
      for (std::size_t j = 0; j < n; ++j) o[i * n + ids[j]] = tmp[j];
    } else {
      for (std::size_t j = 0; j < n; ++j) o[i * n + j] = (l2 ? k->l2sq : k->dot)(q, b.data() + j * dim, dim);
    }
  }
  return out;
}

// The maximal cliques of a small graph (m vertices, edge list), as the clique cover enumerates
// them; for the reference test against brute force.
std::vector<std::vector<std::uint32_t>> maximal_cliques(std::size_t m, const std::vector<std::pair<std::int64_t, std::int64_t>>& edges) {
  if (m > 512) throw std::invalid_argument("at most 512 vertices");
  LocalGraph g;
  g.reset(m);
  for (const auto& [a, b] : edges) {
    if (a < 0 || b < 0 || static_cast<std::uint64_t>(a) >= m || static_cast<std::uint64_t>(b) >= m || a == b)
      throw std::invalid_argument("edge out of range or a loop");
    g.link(static_cast<std::size_t>(a), static_cast<std::size_t>(b));
  }
  std::vector<std::vector<std::uint32_t>> out;
  CliqueEnumerator e;
  e.run(g, std::size_t{1} << 40, [&](const std::vector<std::uint32_t>& c) {
    out.push_back(c);
    std::sort(out.back().begin(), out.back().end());
    return true;
  });
  return out;
}

// ---- filters ---------------------------------------------------------------------------------
// (words, count) of a bool mask.
nb::tuple filter_from_mask(BoolVec mask) {
  std::vector<std::uint64_t> words;
  const std::uint64_t count = pack_mask(mask.data(), mask.shape(0), words);
  return nb::make_tuple(to_numpy(std::move(words)), count);
}

// (words, sorted unique ids or None, count, only 0 and 1 given) of an id array over [0, n). The
// ids are kept when at most n / 16 are set: walking a short list beats scanning mostly-zero words.
nb::tuple filter_from_ids(I64Vec ids, std::size_t n) {
  std::vector<std::uint64_t> words;
  std::uint64_t hi = 0;
  const std::uint64_t count = pack_ids(ids.data(), ids.shape(0), n, words, &hi);
  nb::object kept = nb::none();
  if (count <= n / 16) {
    std::vector<std::uint32_t> sorted;
    sorted.reserve(count);
    Filter f{words.data(), n, count};
    f.for_each_in(0, n, [&](std::size_t id) { sorted.push_back(static_cast<std::uint32_t>(id)); });
    kept = nb::cast(to_numpy(std::move(sorted)));
  }
  const bool zero_one = ids.shape(0) == n && n > 2 && hi <= 1;
  return nb::make_tuple(to_numpy(std::move(words)), kept, count, zero_one);
}

std::uint64_t popcount(Words words) {
  std::uint64_t c = 0;
  for (std::size_t i = 0; i < words.shape(0); ++i) c += static_cast<std::uint64_t>(__builtin_popcountll(words.data()[i]));
  return c;
}

// ---- exact search over a matrix -------------------------------------------------------------------
std::tuple<Owned2<std::int64_t>, Owned2<float>> exact_search_binding(Matrix data, Matrix queries, std::size_t k,
                                                                     const std::string& metric, nb::handle filters,
                                                                     nb::handle filter_of_query, int threads) {
  const std::size_t n = data.shape(0), dim = data.shape(1), nq = queries.shape(0);
  if (k == 0 || k > (std::size_t{1} << 40)) throw std::invalid_argument("k must be in [1, 2^40]");
  if (queries.shape(1) != dim) throw std::invalid_argument("queries and data dimensions differ");
  if (n > 0xFFFFFFFFull) throw std::invalid_argument("at most 2^32 - 1 points are supported");
  if (threads < 0 || threads > 4096) throw std::invalid_argument("threads must be in [0, 4096]");
  check_result_size(nq, k);
  const FlatStorage base{data.data(), n, dim, dim, parse_metric(metric)};
  std::vector<float> unit;
  const float* q = checked_queries(queries, base.metric, unit);
  FilterSet fs = make_filters(filters, filter_of_query, n, nq);
  auto ids = owned_matrix<std::int64_t>(nq, k);
  auto dists = owned_matrix<float>(nq, k);
  SignalPoll signals;
  Interrupt interrupt(signals.check());
  const ExactSearchParams params{k, threads, &interrupt};
  {
    nb::gil_scoped_release release;
    exact_search(base, q, nq, fs.filters.data(), fs.of(nq), params, ids.data(), dists.data());
  }
  signals.rethrow(interrupt);
  return {ids, dists};
}

// ---- build ---------------------------------------------------------------------------------------
nb::dict build_binding(Matrix vectors, std::size_t dim, const std::string& metric, const BuildParams& params,
                       U32Vec sample_ids, nb::object progress) {
  const std::size_t n = vectors.shape(0);
  if (dim == 0 || dim > vectors.shape(1)) throw std::invalid_argument("dim must be in [1, row stride]");
  const FlatStorage base{vectors.data(), n, dim, vectors.shape(1), parse_metric(metric)};
  const std::vector<std::uint32_t> samples(sample_ids.data(), sample_ids.data() + sample_ids.shape(0));
  PythonProgress bridge(progress);
  const ProgressFn report = [&bridge](const char* phase, std::size_t done, std::size_t total) {
    return bridge(phase, done, total);
  };
  BuiltIndex s;
  bool cancelled = false;
  {
    nb::gil_scoped_release release;
    try {
      s = build_index(base, params, samples, report);
    } catch (const BuildCancelled&) {
      cancelled = true;
    }
  }
  bridge.rethrow();  // also after a finished build: a late Ctrl-C is not swallowed
  if (cancelled) throw std::runtime_error("build cancelled");

  nb::dict out;
  out["nav_offsets"] = to_numpy(std::move(s.nav.offsets));
  out["nav_neighbors"] = to_numpy(std::move(s.nav.neighbors));
  out["entry_point"] = s.nav.entry;
  out["clique_offsets"] = to_numpy(std::move(s.clique_offsets));
  out["clique_members"] = to_numpy(std::move(s.clique_members));
  out["clique_thresholds"] = to_numpy(std::move(s.clique_thresholds));
  out["node_offsets"] = to_numpy(std::move(s.node_offsets));
  out["node_cliques"] = to_numpy(std::move(s.node_cliques));
  out["pool_width"] = samples.empty() ? std::size_t{0} : s.sample_pools.size() / samples.size();
  out["sample_pools"] = to_numpy(std::move(s.sample_pools));
  nb::list rounds;
  for (const CoverRound& r : s.rounds) {
    nb::dict d;
    d["alpha"] = r.alpha;
    d["uncovered_before"] = r.uncovered_before;
    d["cliques_added"] = r.cliques_added;
    d["newly_covered"] = r.newly_covered;
    rounds.append(d);
  }
  out["rounds"] = rounds;
  out["fallback_cliques"] = s.fallback_cliques;
  nb::dict phases;
  for (auto& [name, secs] : s.phase_seconds) phases[nb::str(name.c_str())] = secs;
  out["phase_seconds"] = phases;
  return out;
}

// ---- the index object ------------------------------------------------------------------------------
// Holds the arrays (memory-mapped or not) for as long as the core index views them.
class BoundIndex {
 public:
  BoundIndex(Matrix vectors, std::size_t dim, const std::string& metric, U64Vec nav_offsets, U32Vec nav_neighbors,
             std::uint32_t entry_point, U64Vec clique_offsets, U32Vec clique_members, U64Vec node_offsets,
             U32Vec node_cliques, std::optional<CodeMatrix> codes, std::optional<Matrix> code_ranges,
             std::optional<U64Vec> code_exceptions, double code_error)
      : vectors_(vectors), nav_offsets_(nav_offsets), nav_neighbors_(nav_neighbors), clique_offsets_(clique_offsets),
        clique_members_(clique_members), node_offsets_(node_offsets), node_cliques_(node_cliques), codes_(codes),
        code_ranges_(code_ranges), code_exceptions_(code_exceptions), code_error_(code_error),
        index_(data(vectors, dim, parse_metric(metric), entry_point)) {}

  bool has_codes() const { return index_.data().codes.present(); }

  std::size_t size() const { return index_.size(); }
  std::size_t dim() const { return index_.dim(); }

  // Fills `ids` and `dists` (nq x k, allocated by the caller: a numpy array made in Python costs
  // a fraction of one exported from here, which matters when a call searches one query) and
  // returns the stats (nq x 9) or None. Whatever k is, the rows are padded with -1 / +inf.
  nb::object search(Matrix queries, const SearchParams& params, nb::handle filters, nb::handle filter_of_query,
                    I64Out ids, F32Out dists, bool with_stats) const {
    params.validate();
    const std::size_t nq = queries.shape(0), n = index_.size(), k = params.k;
    if (queries.shape(1) != index_.dim()) throw std::invalid_argument("queries have the wrong dimension");
    if (ids.shape(0) != nq || ids.shape(1) != k || dists.shape(0) != nq || dists.shape(1) != k)
      throw std::invalid_argument("the output arrays must be nq x k");
    std::vector<float> unit;
    const float* q = checked_queries(queries, index_.data().vectors.metric, unit);
    FilterSet fs = make_filters(filters, filter_of_query, n, nq);

    std::vector<QueryStats> stats(nq);
    // The search allocates for at most n results; the output is padded to the k asked for.
    SearchParams p = params;
    p.k = std::max<std::size_t>(1, std::min(k, n));
    // ef is raised to k (the list must hold the results); beyond n it buys nothing.
    p.ef = std::min(std::max(p.ef, k), std::max<std::size_t>(n, 1));
    std::vector<std::int64_t> tmp_ids;
    std::vector<float> tmp_dists;
    const bool padded = p.k != k;
    if (padded) {
      tmp_ids.resize(nq * p.k);
      tmp_dists.resize(nq * p.k);
    }
    SignalPoll signals;
    Interrupt interrupt(signals.check());
    p.interrupt = &interrupt;
    {
      nb::gil_scoped_release release;
      if (n > 0)
        index_.search(q, nq, fs.filters.data(), fs.of(nq), p, padded ? tmp_ids.data() : ids.data(),
                      padded ? tmp_dists.data() : dists.data(), stats.data());
      if (padded || n == 0) pad(nq, n > 0 ? p.k : 0, k, tmp_ids, tmp_dists, ids.data(), dists.data());
    }
    signals.rethrow(interrupt);
    if (!with_stats) return nb::none();
    auto st = owned_matrix<std::int64_t>(nq, 9);
    for (std::size_t i = 0; i < nq; ++i) {
      std::int64_t* r = st.data() + i * 9;
      const QueryStats& s = stats[i];
      r[0] = s.strategy;
      r[1] = static_cast<std::int64_t>(s.valid);
      r[2] = static_cast<std::int64_t>(s.distances);
      r[3] = static_cast<std::int64_t>(s.expansions);
      r[4] = static_cast<std::int64_t>(s.cliques);
      r[5] = s.seeds;
      r[6] = s.fallback;
      r[7] = s.found;
      r[8] = s.early_stop;
    }
    return nb::cast(st);
  }

 private:
  IndexData data(const Matrix& vectors, std::size_t dim, Metric metric, std::uint32_t entry) const {
    auto csr = [](const U64Vec& off, const U32Vec& val, const char* what) {
      if (off.shape(0) == 0) throw std::invalid_argument(std::string(what) + ": offsets must not be empty");
      return Csr{off.data(), val.data(), off.shape(0) - 1, val.shape(0)};
    };
    if (dim == 0 || dim > vectors.shape(1)) throw std::invalid_argument("dim must be in [1, row stride]");
    IndexData d;
    d.vectors = FlatStorage{vectors.data(), vectors.shape(0), dim, vectors.shape(1), metric};
    d.nav = csr(nav_offsets_, nav_neighbors_, "navigable graph");
    d.entry = entry;
    d.clique_members = csr(clique_offsets_, clique_members_, "clique members");
    d.node_cliques = csr(node_offsets_, node_cliques_, "node cliques");
    if (codes_.has_value() != code_ranges_.has_value()) throw std::invalid_argument("codes need their ranges");
    if (codes_) {
      if (codes_->shape(0) != d.vectors.n || codes_->shape(1) != dim || code_ranges_->shape(0) != 2 ||
          code_ranges_->shape(1) != dim)
        throw std::invalid_argument("codes must be n x dim and their ranges 2 x dim");
      d.codes = Sq8Storage{codes_->data(), d.vectors.n, dim, dim, code_ranges_->data(), code_ranges_->data() + dim,
                           metric};
      if (code_exceptions_) {
        if (code_exceptions_->shape(0) != (d.vectors.n + 63) / 64) throw std::invalid_argument("code exceptions: wrong size");
        d.codes.exceptions = code_exceptions_->data();
      }
      if (!(code_error_ >= 0.0 && code_error_ < 1e30)) throw std::invalid_argument("code_error must be >= 0 with codes");
      d.codes.max_error = static_cast<float>(code_error_);
    }
    return d;
  }

  // Rows of `found` results (nq x found in tmp) written into nq x k outputs, the rest -1 / inf.
  static void pad(std::size_t nq, std::size_t found, std::size_t k, const std::vector<std::int64_t>& tmp_ids,
                  const std::vector<float>& tmp_dists, std::int64_t* ids, float* dists) {
    for (std::size_t q = 0; q < nq; ++q) {
      std::copy_n(tmp_ids.data() + q * found, found, ids + q * k);
      std::copy_n(tmp_dists.data() + q * found, found, dists + q * k);
      std::fill(ids + q * k + found, ids + (q + 1) * k, -1);
      std::fill(dists + q * k + found, dists + (q + 1) * k, std::numeric_limits<float>::infinity());
    }
  }

  Matrix vectors_;
  U64Vec nav_offsets_;
  U32Vec nav_neighbors_;
  U64Vec clique_offsets_;
  U32Vec clique_members_;
  U64Vec node_offsets_;
  U32Vec node_cliques_;
  std::optional<CodeMatrix> codes_;
  std::optional<Matrix> code_ranges_;
  std::optional<U64Vec> code_exceptions_;
  double code_error_;
  mcindex::Index index_;
};

}  // namespace

void bind_kernel_aids(nb::module_& m);  // kernel_aids.cpp

NB_MODULE(_core, m) {
  m.doc() = "mcindex C++ core (internal; use the mcindex package API)";
  // Indexes and their cached search parameters often live in module globals until the
  // interpreter exits, when Python tears modules down in no particular order; nanobind would
  // report each still-alive object as a leak on stderr. They are not leaks.
  nb::set_leak_warnings(false);
  g_main_thread = nb::cast<unsigned long>(nb::module_::import_("threading").attr("main_thread")().attr("ident"));

  m.attr("METRICS") = nb::make_tuple(kMetricNames[0], kMetricNames[1], kMetricNames[2]);
  m.attr("STRATEGIES") = nb::make_tuple(kStrategyNames[0], kStrategyNames[1], kStrategyNames[2], kStrategyNames[3]);
  m.def("simd_level", []() { return std::string(simd_level_name(kernels().level)); },
        "The SIMD instruction set the distance kernels use on this CPU.");
  m.def(
      "release_memory",
      []() {
#if defined(__GLIBC__)
        nb::gil_scoped_release release;
        malloc_trim(0);
        return true;
#else
        return false;
#endif
      },
      "Return freed heap memory to the system (glibc malloc_trim); False where unavailable.");
  m.def("available_simd_levels", &available_levels, "Every SIMD level compiled in and supported by this CPU.");
  m.def("kernel_pairwise", &kernel_pairwise, nb::arg("level"), nb::arg("kind"), nb::arg("a"), nb::arg("b"),
        nb::arg("batched") = false, "Raw kernel values between all rows of a and b with one SIMD level (testing aid).");
  bind_kernel_aids(m);
  m.def("maximal_cliques", &maximal_cliques, nb::arg("m"), nb::arg("edges"),
        "Maximal cliques of a small graph as the clique cover enumerates them (testing aid).");

  m.def("filter_from_mask", &filter_from_mask, nb::arg("mask"), "(words, count) of a bool mask.");
  m.def("filter_from_ids", &filter_from_ids, nb::arg("ids"), nb::arg("n"),
        "(words, sorted ids or None, count, only 0 and 1) of an int64 id array over [0, n).");
  m.def("popcount", &popcount, nb::arg("words"), "Set bits of a uint64 array.");
  m.def("exact_search", &exact_search_binding, nb::arg("data"), nb::arg("queries"), nb::arg("k"), nb::arg("metric"),
        nb::arg("filters").none(), nb::arg("filter_of_query").none(), nb::arg("threads"),
        "Exact filtered k-NN over a matrix (internal; see mcindex.exact_search).");

  nb::class_<BuildParams>(m, "BuildParams", "The keywords of mcindex.Index.build, checked by validate().")
      .def(nb::init<>())
      .def_rw("pool_size", &BuildParams::pool_size)
      .def_rw("min_clique_size", &BuildParams::min_clique_size)
      .def_rw("alpha", &BuildParams::alpha)
      .def_rw("degree", &BuildParams::degree)
      .def_rw("build_list", &BuildParams::build_list)
      .def_rw("min_memberships", &BuildParams::min_memberships)
      .def_rw("hub_cap", &BuildParams::hub_cap)
      .def_rw("clique_quota", &BuildParams::clique_quota)
      .def_rw("extend_cliques", &BuildParams::extend_cliques)
      .def_rw("alpha_max", &BuildParams::alpha_max)
      .def_rw("fallback_size", &BuildParams::fallback_size)
      .def_prop_rw(
          "pool_method", [](const BuildParams& p) { return std::string(p.pool_method == PoolMethod::TwoHop ? "two_hop" : "search"); },
          [](BuildParams& p, const std::string& v) {
            if (v != "search" && v != "two_hop") throw std::invalid_argument("pool_method must be 'search' or 'two_hop'");
            p.pool_method = v == "two_hop" ? PoolMethod::TwoHop : PoolMethod::Search;
          })
      .def_rw("pool_search_list", &BuildParams::pool_search_list)
      .def_rw("seed", &BuildParams::seed)
      .def_rw("threads", &BuildParams::threads)
      .def_rw("deterministic", &BuildParams::deterministic)
      .def("validate", &BuildParams::validate);
  m.def("build_index", &build_binding, nb::arg("vectors"), nb::arg("dim"), nb::arg("metric"), nb::arg("params"),
        nb::arg("sample_ids"), nb::arg("progress").none(), "Build the index arrays (internal; see mcindex.Index.build).");

  nb::class_<SearchParams>(m, "SearchParams", "The keywords of mcindex.Index.search and the planner's rule.")
      .def(nb::init<>())
      .def_rw("k", &SearchParams::k)
      .def_rw("ef", &SearchParams::ef)
      .def_prop_rw(
          "strategy", [](const SearchParams& p) { return std::string(kStrategyNames[static_cast<int>(p.strategy)]); },
          [](SearchParams& p, const std::string& v) { p.strategy = parse_strategy(v); })
      .def_rw("threads", &SearchParams::threads)
      .def_rw("seeds", &SearchParams::seeds)
      .def_rw("idle_window", &SearchParams::idle_window)
      .def_rw("max_hops", &SearchParams::max_hops)
      .def_rw("graph_links", &SearchParams::graph_links)
      .def_rw("rerank", &SearchParams::rerank)
      .def_prop_rw(
          "exact_max_valid", [](const SearchParams& p) { return p.rule.exact_max_valid; },
          [](SearchParams& p, std::uint64_t v) { p.rule.exact_max_valid = v; })
      .def_prop_rw(
          "graph_min_fraction", [](const SearchParams& p) { return p.rule.graph_min_fraction; },
          [](SearchParams& p, double v) { p.rule.graph_min_fraction = v; })
      .def_prop_rw(
          "exact_cost_ratio", [](const SearchParams& p) { return p.rule.exact_cost_ratio; },
          [](SearchParams& p, double v) { p.rule.exact_cost_ratio = v; })
      .def("validate", &SearchParams::validate);

  nb::class_<BoundIndex>(m, "Index", "The index arrays, checked once and searched (internal; see mcindex.Index).")
      .def(nb::init<Matrix, std::size_t, const std::string&, U64Vec, U32Vec, std::uint32_t, U64Vec, U32Vec, U64Vec,
                    U32Vec, std::optional<CodeMatrix>, std::optional<Matrix>, std::optional<U64Vec>, double>(),
           nb::arg("vectors"), nb::arg("dim"), nb::arg("metric"), nb::arg("nav_offsets"), nb::arg("nav_neighbors"),
           nb::arg("entry_point"), nb::arg("clique_offsets"), nb::arg("clique_members"), nb::arg("node_offsets"),
           nb::arg("node_cliques"), nb::arg("codes").none() = nb::none(), nb::arg("code_ranges").none() = nb::none(),
           nb::arg("code_exceptions").none() = nb::none(), nb::arg("code_error") = -1.0)
      .def_prop_ro("has_codes", &BoundIndex::has_codes)
      .def_prop_ro("size", &BoundIndex::size)
      .def_prop_ro("dim", &BoundIndex::dim)
      .def("search", &BoundIndex::search, nb::arg("queries"), nb::arg("params"), nb::arg("filters").none(),
           nb::arg("filter_of_query").none(), nb::arg("ids"), nb::arg("distances"), nb::arg("with_stats"));
}
