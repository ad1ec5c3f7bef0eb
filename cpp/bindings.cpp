// nanobind glue only: check shapes, release the GIL, call the core. The Python layer
// (src/mcindex/*.py) validates user input first and gives the friendly messages; the checks
// here are the last line of defence so that no call can make the core read out of bounds.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <omp.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bitset.hpp"
#include "parallel.hpp"
#include "distance/distance.hpp"
#include "index/mci_build.hpp"
#include "search/exact_search.hpp"
#include "search/mci_search.hpp"

namespace nb = nanobind;
using namespace mcindex;

namespace {

using Matrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Words = nb::ndarray<const std::uint64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using IdList = nb::ndarray<const std::uint32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Int32Vec = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<2>> owned_matrix(std::size_t rows, std::size_t cols) {
  T* buf = new T[rows * cols > 0 ? rows * cols : 1];
  nb::capsule owner(buf, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<2>>(buf, {rows, cols}, owner);
}

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
nb::ndarray<nb::numpy, float, nb::ndim<2>> kernel_pairwise(const std::string& level,
                                                            const std::string& kind, Matrix a,
                                                            Matrix b, bool batched) {
  const DistanceKernels* k = kernels_for(parse_level(level));
  if (k == nullptr) throw std::invalid_argument("SIMD level '" + level + "' is not available here");
  if (kind != "l2sq" && kind != "dot") throw std::invalid_argument("kind must be 'l2sq' or 'dot'");
  if (a.shape(1) != b.shape(1)) throw std::invalid_argument("a and b must have the same dimension");
  std::size_t m = a.shape(0), n = b.shape(0), dim = a.shape(1);
  auto out = owned_matrix<float>(m, n);
  float* o = out.data();
  bool l2 = kind == "l2sq";
  std::vector<unsigned> ids(n);
  for (std::size_t j = 0; j < n; ++j) ids[j] = static_cast<unsigned>(n - 1 - j);  // exercise gathers
  for (std::size_t i = 0; i < m; ++i) {
    const float* q = a.data() + i * dim;
    if (batched) {
      std::vector<float> tmp(n);
      (l2 ? k->l2sq_batch : k->dot_batch)(q, b.data(), dim, dim, ids.data(), n, tmp.data());
      for (std::size_t j = 0; j < n; ++j) o[i * n + ids[j]] = tmp[j];
    } else {
      for (std::size_t j = 0; j < n; ++j) o[i * n + j] = (l2 ? k->l2sq : k->dot)(q, b.data() + j * dim, dim);
    }
  }
  return out;
}

// Ctrl-C during a long search. Python runs signal handlers only on the main thread, and only
// when asked: the core's calling thread, between units of work, takes the GIL back at most every
// 50 ms (see Interrupt) and runs them here. A handler's exception (KeyboardInterrupt) stops the
// search and is re-raised once the worker threads have stopped.
unsigned long g_main_thread = 0;  // threading.main_thread().ident, set when the module loads

class SignalPoll {
 public:
  SignalPoll() : active_(PyThread_get_thread_ident() == g_main_thread) {}

  bool operator()() {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return true;
    error_ = std::make_unique<nb::python_error>();
    return false;
  }

  // An Interrupt polling this object, or one that never polls (off the main thread).
  Interrupt::Check check() {
    if (!active_) return {};
    return [this] { return (*this)(); };
  }

  // With the GIL held, after the call: raise the handler's exception, if any.
  void rethrow(const Interrupt& interrupt) {
    if (error_) {
      nb::python_error e = std::move(*error_);
      error_.reset();
      throw e;
    }
    if (interrupt.stopped()) throw std::runtime_error("search cancelled");
  }

 private:
  bool active_;
  std::unique_ptr<nb::python_error> error_;
};

// Results of nq x k entries; refuses sizes whose byte count would overflow.
void check_result_size(std::size_t nq, std::size_t k) {
  if (k != 0 && nq > (std::size_t{1} << 62) / k / sizeof(std::int64_t))
    throw std::invalid_argument("nq * k is too large for the result arrays");
}

// Filters in core form; the lists keep the arrays alive for the call.
struct FilterSet {
  std::vector<FilterView> views;
  std::vector<Words> words;
  std::vector<IdList> ids;
};

FilterSet collect_filters(nb::list filter_words, nb::list filter_ids, std::size_t n, bool need_words) {
  if (filter_words.size() != filter_ids.size())
    throw std::invalid_argument("filter_words and filter_ids must have the same length");
  FilterSet fs;
  fs.views.resize(filter_words.size());
  for (std::size_t f = 0; f < fs.views.size(); ++f) {
    if (!filter_words[f].is_none()) {
      Words w = nb::cast<Words>(filter_words[f]);
      if (w.shape(0) != (n + 63) / 64) throw std::invalid_argument("filter bitset has the wrong number of words");
      if (n % 64 != 0 && (w.data()[n / 64] >> (n % 64)) != 0)  // seeds are drawn from whole words
        throw std::invalid_argument("filter bitset has bits set past the number of points");
      fs.views[f].bits = BitsetView{w.data(), n};
      fs.words.push_back(w);
    } else if (need_words) {
      throw std::invalid_argument("this search needs every filter as a bitset");
    }
    if (!filter_ids[f].is_none()) {
      IdList ids = nb::cast<IdList>(filter_ids[f]);
      const std::uint32_t* p = ids.data();
      for (std::size_t i = 0; i < ids.shape(0); ++i) {
        if (p[i] >= n) throw std::invalid_argument("filter id out of range");
        if (i > 0 && p[i] <= p[i - 1]) throw std::invalid_argument("filter ids must be strictly increasing");
      }
      fs.views[f].ids = p;
      fs.views[f].n_ids = ids.shape(0);
      fs.ids.push_back(ids);
    }
  }
  return fs;
}

// Validates filter_of_query (one entry per query, each < the number of filters); nullptr if absent.
const std::int32_t* check_filter_of_query(const std::optional<Int32Vec>& foq, std::size_t nq, std::size_t n_filters) {
  if (!foq) return nullptr;
  if (foq->shape(0) != nq) throw std::invalid_argument("filter_of_query must have one entry per query");
  const std::int32_t* p = foq->data();
  for (std::size_t q = 0; q < nq; ++q)
    if (p[q] >= static_cast<std::int32_t>(n_filters)) throw std::invalid_argument("filter index out of range");
  return p;
}

std::tuple<nb::ndarray<nb::numpy, std::int64_t, nb::ndim<2>>, nb::ndarray<nb::numpy, float, nb::ndim<2>>>
exact_search_binding(Matrix data, Matrix queries, std::size_t k, int metric, nb::list filter_words,
                     nb::list filter_ids, std::optional<Int32Vec> filter_of_query, int threads) {
  if (metric < 0 || metric > 2) throw std::invalid_argument("metric code must be 0, 1 or 2");
  if (k == 0 || k > (std::size_t{1} << 40)) throw std::invalid_argument("k must be in [1, 2^40]");
  std::size_t n = data.shape(0), dim = data.shape(1), nq = queries.shape(0);
  if (queries.shape(1) != dim) throw std::invalid_argument("queries and data dimensions differ");
  if (n > 0xFFFFFFFFull) throw std::invalid_argument("at most 2^32 - 1 points are supported");
  FilterSet fs = collect_filters(filter_words, filter_ids, n, false);
  const std::int32_t* foq = check_filter_of_query(filter_of_query, nq, fs.views.size());

  if (threads < 0 || threads > 4096) throw std::invalid_argument("threads must be in [0, 4096]");
  check_result_size(nq, k);

  auto ids = owned_matrix<std::int64_t>(nq, k);
  auto dists = owned_matrix<float>(nq, k);
  VectorView base{data.data(), n, dim, dim};
  SignalPoll signals;
  Interrupt interrupt(signals.check());
  ExactSearchParams params{k, static_cast<Metric>(metric), threads, &interrupt};
  {
    nb::gil_scoped_release release;
    exact_search(base, queries.data(), nq, fs.views.data(), foq, params, ids.data(), dists.data());
  }
  signals.rethrow(interrupt);
  return {ids, dists};
}


template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owned->data(), {owned->size()}, owner);
}

// Bridges the core's progress callback to Python: at most every 100 ms it takes the GIL, checks
// for Ctrl-C and calls the user's callback. A Python exception cancels the build and is
// re-raised once the worker threads have stopped.
class PythonProgress {
 public:
  explicit PythonProgress(nb::object callback) : callback_(std::move(callback)) {}

  bool operator()(const char* phase, std::size_t done, std::size_t total) {
    auto now = std::chrono::steady_clock::now();
    bool phase_changed = phase != last_phase_;
    if (!phase_changed && done < total && now - last_ < std::chrono::milliseconds(100)) return true;
    last_ = now;
    last_phase_ = phase;
    nb::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0) throw nb::python_error();
      if (!callback_.is_none()) callback_(phase, done, total);
    } catch (nb::python_error& e) {
      error_ = std::make_unique<nb::python_error>(std::move(e));
      return false;
    } catch (...) {  // never let a foreign exception escape into the core's parallel regions
      foreign_ = std::current_exception();
      return false;
    }
    return true;
  }

  // With the GIL held: raise the captured Python exception, if any.
  void rethrow() {
    if (error_) {
      nb::python_error e = std::move(*error_);
      error_.reset();
      throw e;
    }
    if (foreign_) std::rethrow_exception(foreign_);
  }

 private:
  nb::object callback_;
  std::unique_ptr<nb::python_error> error_;
  std::exception_ptr foreign_;
  const char* last_phase_ = nullptr;
  std::chrono::steady_clock::time_point last_{};
};

nb::dict build_mci_binding(Matrix vectors, std::size_t dim, int metric, std::size_t degree,
                           std::size_t build_list, float nav_alpha, std::size_t pool_size,
                           std::size_t min_clique, std::size_t quota, std::size_t min_memberships,
                           std::size_t hub_cap, bool extend, float alpha0, float alpha_max,
                           std::size_t fallback_size, bool pool_two_hop, std::size_t pool_search_list,
                           std::uint64_t seed, int threads, int cover_threads,
                           nb::ndarray<const std::uint32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> sample_ids,
                           nb::object progress) {
  if (metric < 0 || metric > 2) throw std::invalid_argument("metric code must be 0, 1 or 2");
  const std::size_t n = vectors.shape(0);
  if (dim == 0 || dim > vectors.shape(1)) throw std::invalid_argument("dim must be in [1, row stride]");
  if (n >= 0xFFFFFFFFull) throw std::invalid_argument("at most 2^32 - 2 points are supported");
  if (n == 0) throw std::invalid_argument("at least one point is needed");
  if (degree < 1 || pool_size < 1 || min_clique < 1 || quota < 1 || min_memberships < 1 || hub_cap < 1 ||
      fallback_size < 1 || build_list < 1 || pool_search_list < 1)
    throw std::invalid_argument("build sizes must be >= 1");
  if (!(alpha0 >= 1.0f) || !(alpha_max >= alpha0) || !std::isfinite(alpha_max) || !(nav_alpha >= 1.0f))
    throw std::invalid_argument("alpha must be finite, >= 1 and <= alpha_max");
  if (threads < 1 || threads > 4096 || cover_threads < 1 || cover_threads > 4096)
    throw std::invalid_argument("threads must be in [1, 4096]");
  // A size beyond the number of other points buys nothing; clamping also keeps every
  // n * size product far from overflow.
  degree = std::min(degree, std::max<std::size_t>(n - 1, 1));
  pool_size = std::min(pool_size, n - 1);
  build_list = std::min(build_list, n);
  pool_search_list = std::min(pool_search_list, n);
  std::vector<std::uint32_t> samples(sample_ids.data(), sample_ids.data() + sample_ids.shape(0));
  for (std::uint32_t v : samples)
    if (v >= n) throw std::invalid_argument("sample id out of range");

  MciBuildParams p;
  p.nav.degree = degree;
  p.nav.build_list = build_list;
  p.nav.alpha = nav_alpha;
  p.nav.seed = seed;
  p.pool_size = pool_size;
  p.pool_two_hop = pool_two_hop;
  p.pool_search_list = pool_search_list;
  p.cover.min_clique = min_clique;
  p.cover.quota = quota;
  p.cover.min_memberships = min_memberships;
  p.cover.hub_cap = hub_cap;
  p.cover.extend = extend;
  p.cover.alpha0 = alpha0;
  p.cover.alpha_max = alpha_max;
  p.cover.fallback_size = fallback_size;
  p.cover.seed = seed;
  p.cover.threads = cover_threads;

  PythonProgress bridge(progress);
  BuildContext ctx;
  ctx.base = VectorView{vectors.data(), n, dim, vectors.shape(1)};
  ctx.metric = static_cast<Metric>(metric);
  ctx.threads = threads;
  ctx.progress = [&bridge](const char* phase, std::size_t done, std::size_t total) {
    return bridge(phase, done, total);
  };

  MciStructure s;
  bool cancelled = false;
  {
    nb::gil_scoped_release release;
    try {
      s = build_mci(ctx, p, samples);
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
  out["sample_pools"] = to_numpy(std::move(s.sample_pools));
  out["pool_width"] = pool_size;
  nb::list rounds;
  for (const CoverRound& r : s.rounds) {
    nb::dict d;
    d["alpha"] = r.alpha;
    d["uncovered_before"] = r.uncovered_before;
    d["groups_added"] = r.groups_added;
    d["newly_covered"] = r.newly_covered;
    rounds.append(d);
  }
  out["rounds"] = rounds;
  out["fallback_groups"] = s.fallback_groups;
  nb::dict phases;
  for (auto& [name, secs] : s.phase_seconds) phases[nb::str(name.c_str())] = secs;
  out["phase_seconds"] = phases;
  return out;
}

using U64Vec = nb::ndarray<const std::uint64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using U32Vec = nb::ndarray<const std::uint32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// Shape and ends of a CSR. The ids inside are not checked here (O(size) per search call): the
// Index object only ever holds arrays its build produced or that load_index validated.
void check_csr(const U64Vec& offsets, std::size_t rows, std::size_t values, const char* what) {
  if (offsets.shape(0) == 0 || offsets.shape(0) - 1 != rows || offsets.data()[0] != 0 ||
      offsets.data()[rows] != values)
    throw std::invalid_argument(std::string(what) + " offsets do not match their values");
}

std::uint64_t popcount(const FilterView& f) {
  const std::size_t words = (f.bits.n + 63) / 64;
  std::uint64_t count = 0;
  for (std::size_t w = 0; w < words; ++w) count += static_cast<std::uint64_t>(__builtin_popcountll(f.bits.words[w]));
  return count;
}

nb::tuple mci_search_binding(Matrix vectors, std::size_t dim, int metric, U64Vec nav_offsets,
                             U32Vec nav_neighbors, std::uint32_t entry, U64Vec clique_offsets,
                             U32Vec clique_members, U64Vec node_offsets, U32Vec node_cliques, Matrix queries,
                             std::size_t k, std::size_t ef, int strategy, int threads, std::size_t seeds,
                             std::size_t idle_window, std::size_t max_hops, bool graph_links,
                             std::size_t exact_max_valid, double graph_min_fraction, double exact_cost_ratio,
                             nb::list filter_words,
                             nb::list filter_ids, std::optional<Int32Vec> filter_of_query, U64Vec valid_count) {
  const std::size_t n = vectors.shape(0), nq = queries.shape(0);
  if (metric < 0 || metric > 2 || strategy < 0 || strategy > 3) throw std::invalid_argument("bad metric or strategy code");
  if (dim == 0 || dim > vectors.shape(1) || queries.shape(1) != dim) throw std::invalid_argument("dimension mismatch");
  if (k == 0 || k > (std::size_t{1} << 30) || ef == 0 || ef > (std::size_t{1} << 30)) throw std::invalid_argument("k and ef must be in [1, 2^30]");
  if (threads < 1 || threads > 4096) throw std::invalid_argument("threads must be in [1, 4096]");
  if (n == 0 || entry >= n) throw std::invalid_argument("entry point out of range");
  if (clique_offsets.shape(0) == 0) throw std::invalid_argument("group offsets must not be empty");
  const std::size_t C = clique_offsets.shape(0) - 1;
  check_csr(nav_offsets, n, nav_neighbors.shape(0), "navigable graph");
  check_csr(clique_offsets, C, clique_members.shape(0), "group");
  check_csr(node_offsets, n, node_cliques.shape(0), "membership");
  FilterSet fs = collect_filters(filter_words, filter_ids, n, true);
  if (valid_count.shape(0) != fs.views.size()) throw std::invalid_argument("one valid count per filter is needed");
  // The traversal indexes the id list by rank (seeds spread over the valid set): a count that
  // disagrees with the filter would read past it.
  for (std::size_t f = 0; f < fs.views.size(); ++f) {
    const std::uint64_t bits = popcount(fs.views[f]);
    if (valid_count.data()[f] != bits || (fs.views[f].ids != nullptr && fs.views[f].n_ids != bits))
      throw std::invalid_argument("a valid count disagrees with its filter");
  }
  const std::int32_t* foq = check_filter_of_query(filter_of_query, nq, fs.views.size());

  MciView ix;
  ix.base = VectorView{vectors.data(), n, dim, vectors.shape(1)};
  ix.metric = static_cast<Metric>(metric);
  ix.nav_offsets = nav_offsets.data();
  ix.nav_neighbors = nav_neighbors.data();
  ix.entry = entry;
  ix.clique_offsets = clique_offsets.data();
  ix.clique_members = clique_members.data();
  ix.n_cliques = C;
  ix.node_offsets = node_offsets.data();
  ix.node_cliques = node_cliques.data();
  MciSearchParams p;
  p.k = k;
  p.ef = ef;
  p.strategy = static_cast<Strategy>(strategy);
  p.threads = threads;
  p.seeds = seeds;
  p.idle_window = idle_window;
  p.max_hops = max_hops;
  p.graph_links = graph_links;
  p.exact_max_valid = exact_max_valid;
  p.graph_min_fraction = graph_min_fraction;
  if (!(exact_cost_ratio >= 0.0) || !std::isfinite(exact_cost_ratio)) throw std::invalid_argument("exact_cost_ratio must be finite and >= 0");
  p.exact_cost_ratio = exact_cost_ratio;
  if (!(graph_min_fraction >= 0.0)) throw std::invalid_argument("graph_min_fraction must be >= 0");  // NaN too
  check_result_size(nq, k);

  auto ids = owned_matrix<std::int64_t>(nq, k);
  auto dists = owned_matrix<float>(nq, k);
  std::vector<QueryStats> stats(nq);
  SignalPoll signals;
  Interrupt interrupt(signals.check());
  p.interrupt = &interrupt;
  {
    nb::gil_scoped_release release;
    mci_search(ix, queries.data(), nq, fs.views.data(), foq, valid_count.data(), p, ids.data(), dists.data(),
               stats.data());
  }
  signals.rethrow(interrupt);
  auto st = owned_matrix<std::int64_t>(nq, 9);
  for (std::size_t q = 0; q < nq; ++q) {
    std::int64_t* r = st.data() + q * 9;
    r[0] = stats[q].strategy;
    r[1] = static_cast<std::int64_t>(stats[q].valid);
    r[2] = static_cast<std::int64_t>(stats[q].distances);
    r[3] = static_cast<std::int64_t>(stats[q].expansions);
    r[4] = static_cast<std::int64_t>(stats[q].cliques);
    r[5] = stats[q].seeds;
    r[6] = stats[q].fallback;
    r[7] = stats[q].found;
    r[8] = stats[q].early_stop;
  }
  return nb::make_tuple(ids, dists, st);
}
}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "mcindex C++ core (internal; use the mcindex package API)";
  g_main_thread = nb::cast<unsigned long>(nb::module_::import_("threading").attr("main_thread")().attr("ident"));
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
  m.def("available_simd_levels", &available_levels,
        "Every SIMD level compiled in and supported by this CPU.");
  m.def("kernel_pairwise", &kernel_pairwise, nb::arg("level"), nb::arg("kind"), nb::arg("a"),
        nb::arg("b"), nb::arg("batched") = false,
        "Raw kernel values between all rows of a and b with one SIMD level (testing aid).");
  m.def("exact_search", &exact_search_binding, nb::arg("data"), nb::arg("queries"), nb::arg("k"),
        nb::arg("metric"), nb::arg("filter_words"), nb::arg("filter_ids"),
        nb::arg("filter_of_query").none(), nb::arg("threads"),
        "Exact filtered k-NN (internal; see mcindex.exact_search).");
  m.def("build_mci", &build_mci_binding, nb::arg("vectors"), nb::arg("dim"), nb::arg("metric"),
        nb::arg("degree"), nb::arg("build_list"), nb::arg("nav_alpha"), nb::arg("pool_size"),
        nb::arg("min_clique"), nb::arg("quota"), nb::arg("min_memberships"), nb::arg("hub_cap"),
        nb::arg("extend"), nb::arg("alpha0"), nb::arg("alpha_max"), nb::arg("fallback_size"),
        nb::arg("pool_two_hop"), nb::arg("pool_search_list"), nb::arg("seed"), nb::arg("threads"),
        nb::arg("cover_threads"), nb::arg("sample_ids"), nb::arg("progress").none(),
        "Build the clique index structure (internal; see mcindex.Index.build).");
  m.def("mci_search", &mci_search_binding, nb::arg("vectors"), nb::arg("dim"), nb::arg("metric"),
        nb::arg("nav_offsets"), nb::arg("nav_neighbors"), nb::arg("entry"), nb::arg("clique_offsets"),
        nb::arg("clique_members"), nb::arg("node_offsets"), nb::arg("node_cliques"), nb::arg("queries"),
        nb::arg("k"), nb::arg("ef"), nb::arg("strategy"), nb::arg("threads"), nb::arg("seeds"),
        nb::arg("idle_window"), nb::arg("max_hops"), nb::arg("graph_links"), nb::arg("exact_max_valid"),
        nb::arg("graph_min_fraction"), nb::arg("exact_cost_ratio"), nb::arg("filter_words"), nb::arg("filter_ids"),
        nb::arg("filter_of_query").none(), nb::arg("valid_count"),
        "Filtered search over a clique index (internal; see mcindex.Index.search).");
}
