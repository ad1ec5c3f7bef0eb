// Arrays between numpy and the core: the array types the bindings accept, results handed back
// without copying, query checks, and the one filter form (mcindex::Filter) made from what
// Python passes. Everything here runs with the GIL held.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "distance/distance.hpp"
#include "filter.hpp"

namespace mcindex::bindings {

namespace nb = nanobind;

using Matrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Words = nb::ndarray<const std::uint64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using U64Vec = Words;
using U32Vec = nb::ndarray<const std::uint32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using I64Vec = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using I32Vec = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using BoolVec = nb::ndarray<const bool, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using CodeMatrix = nb::ndarray<const std::uint8_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

using I64Out = nb::ndarray<std::int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using F32Out = nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

template <typename T>
using Owned2 = nb::ndarray<nb::numpy, T, nb::ndim<2>>;
template <typename T>
using Owned1 = nb::ndarray<nb::numpy, T, nb::ndim<1>>;

// A new numpy array that owns its buffer (freed with the array).
template <typename T>
Owned2<T> owned_matrix(std::size_t rows, std::size_t cols) {
  T* buf = new T[rows * cols > 0 ? rows * cols : 1];
  nb::capsule owner(buf, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return Owned2<T>(buf, {rows, cols}, owner);
}

template <typename T>
Owned1<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return Owned1<T>(owned->data(), {owned->size()}, owner);
}

// Results of nq x k entries; refuses sizes whose byte count would overflow.
inline void check_result_size(std::size_t nq, std::size_t k) {
  if (k != 0 && nq > (std::size_t{1} << 62) / k / sizeof(std::int64_t))
    throw std::invalid_argument("nq * k is too large for the result arrays");
}

// "3 row(s): 4, 9, 12" (the first ten), the wording of mcindex.exact.as_matrix.
inline std::string row_list(const std::vector<std::size_t>& rows) {
  std::string s = std::to_string(rows.size()) + " row(s): ";
  for (std::size_t i = 0; i < rows.size() && i < 10; ++i) s += (i ? ", " : "") + std::to_string(rows[i]);
  if (rows.size() > 10) s += " ...";
  return s;
}

// The largest |x| a coordinate may have in `dim` dimensions (mcindex._checks.max_magnitude):
// any squared L2 distance or inner product of two such vectors stays finite in float32.
inline double max_magnitude(std::size_t dim) {
  return std::sqrt(3.4028234663852886e38 / (4.0 * static_cast<double>(dim > 0 ? dim : 1)));
}

// Queries as the core reads them: every value finite and within max_magnitude (a distance never
// overflows to inf, the value that marks an empty result); for cosine, a unit-length copy in
// `unit` (norms in double, so tiny rows do not underflow). Returns the rows to search.
inline const float* checked_queries(const Matrix& q, Metric metric, std::vector<float>& unit) {
  const std::size_t nq = q.shape(0), dim = q.shape(1);
  const float* x = q.data();
  const double limit = max_magnitude(dim);
  std::vector<std::size_t> bad_value, too_large, zero;
  for (std::size_t r = 0; r < nq; ++r) {
    const float* row = x + r * dim;
    bool finite = true, small = true;
    for (std::size_t j = 0; j < dim; ++j) {
      const float v = row[j];
      finite &= std::isfinite(v);
      small &= std::fabs(v) <= limit;
    }
    if (!finite) bad_value.push_back(r);
    else if (!small) too_large.push_back(r);
  }
  if (!bad_value.empty()) throw nb::value_error(("queries has NaN or inf in " + row_list(bad_value)).c_str());
  if (!too_large.empty()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", limit);
    throw nb::value_error(("queries has values too large for float32 distances (|x| > " + std::string(buf) +
                           ") in " + row_list(too_large) + "; rescale the vectors").c_str());
  }
  if (metric != Metric::Cosine) return x;
  unit.resize(nq * dim);
  for (std::size_t r = 0; r < nq; ++r) {
    const float* row = x + r * dim;
    double norm = 0.0;
    for (std::size_t j = 0; j < dim; ++j) norm += static_cast<double>(row[j]) * row[j];
    norm = std::sqrt(norm);
    if (norm == 0.0) {
      zero.push_back(r);
      continue;
    }
    for (std::size_t j = 0; j < dim; ++j) unit[r * dim + j] = static_cast<float>(row[j] / norm);
  }
  if (!zero.empty())
    throw nb::value_error(("queries has a zero vector, for which cosine is undefined, in " + row_list(zero)).c_str());
  return unit.data();
}

// Filters in core form for one call: views of the arrays Python passed (kept referenced until
// the call returns) or words made here from a mask or an id array.
struct FilterSet {
  std::vector<Filter> filters;
  std::vector<Words> words;
  std::vector<U32Vec> ids;
  std::vector<std::vector<std::uint64_t>> made;      // words packed from masks and id arrays
  std::vector<std::vector<std::uint32_t>> made_ids;  // the sorted ids of a selective id array
  std::optional<I32Vec> of_query;

  // filter_of_query[q] per query; nullptr when there is no filter.
  const std::int32_t* of(std::size_t nq) {
    if (filters.empty()) return nullptr;
    if (of_query) return of_query->data();
    single_.assign(nq, 0);
    return single_.data();
  }

 private:
  std::vector<std::int32_t> single_;
};

// Words of a bool mask (eight mask bytes, each 0 or 1, become eight bits with one multiply: byte
// i lands on bit 56 + i of the product, and no two partial products overlap); returns the count.
inline std::uint64_t pack_mask(const bool* mask, std::size_t n, std::vector<std::uint64_t>& words) {
  words.assign((n + 63) / 64, 0);
  const unsigned char* m = reinterpret_cast<const unsigned char*>(mask);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, m + i, 8);
    words[i >> 6] |= ((x * 0x0102040810204080ull) >> 56) << (i & 63);
  }
  for (; i < n; ++i) words[i >> 6] |= static_cast<std::uint64_t>(m[i] != 0) << (i & 63);
  std::uint64_t count = 0;
  for (std::uint64_t w : words) count += static_cast<std::uint64_t>(__builtin_popcountll(w));
  return count;
}

// Words of an id array over [0, n) (ValueError naming the first id out of range); returns the
// count. Bits gather in a register while ids stay in one word: a read-modify-write of memory per
// id would chain every id on the one before it.
inline std::uint64_t pack_ids(const std::int64_t* p, std::size_t len, std::size_t n, std::vector<std::uint64_t>& words,
                              std::uint64_t* hi_out = nullptr) {
  words.assign((n + 63) / 64, 0);
  std::size_t current = 0;
  std::uint64_t bits = 0, hi = 0;
  for (std::size_t i = 0; i < len; ++i) {
    const std::uint64_t v = static_cast<std::uint64_t>(p[i]);  // a negative id becomes huge
    if (v >= n)
      throw nb::value_error(("id " + std::to_string(p[i]) + " is out of range [0, " + std::to_string(n) + ")").c_str());
    const std::size_t w = static_cast<std::size_t>(v >> 6);
    if (w != current) {
      words[current] |= bits;
      current = w;
      bits = 0;
    }
    bits |= std::uint64_t{1} << (v & 63);
    hi = std::max(hi, v);
  }
  if (!words.empty()) words[current] |= bits;
  if (hi_out != nullptr) *hi_out = hi;
  std::uint64_t count = 0;
  for (std::uint64_t w : words) count += static_cast<std::uint64_t>(__builtin_popcountll(w));
  return count;
}

// `filters`: None or a list whose entries are each a (words, ids or None, count) tuple (what
// mcindex.Bitmap.core gives), a 1-D bool mask of length n or a 1-D int64 array of allowed ids,
// the last two packed here once per call (a ValueError names an id out of range); `of_query`:
// None (every query has filter 0) or each query's filter index (-1: none). The last line of defence against a call that could
// read out of bounds: word counts, no bits past n, ids ascending and below n, indices in range.
// Counts are not recounted: they only steer the planner, and Filter::spread never trusts them
// for bounds.
inline FilterSet make_filters(nb::handle filters, nb::handle of_query, std::size_t n, std::size_t nq) {
  FilterSet fs;
  if (filters.is_none()) return fs;
  nb::list list = nb::borrow<nb::list>(filters);
  const std::size_t m = list.size();
  fs.filters.resize(m);
  fs.made.reserve(m);  // the filters point into these vectors: they must not move
  fs.made_ids.reserve(m);
  const std::size_t n_words = (n + 63) / 64;
  for (std::size_t f = 0; f < m; ++f) {
    nb::handle entry = list[f];
    Filter& flt = fs.filters[f];
    flt.n = n;
    if (nb::isinstance<BoolVec>(entry)) {  // a mask: packed here, once per call
      BoolVec mask = nb::cast<BoolVec>(entry);
      if (mask.shape(0) != n) throw std::invalid_argument("a mask filter must have one entry per point");
      flt.count = pack_mask(mask.data(), n, fs.made.emplace_back());
      flt.words = fs.made.back().data();
      continue;
    }
    if (nb::isinstance<I64Vec>(entry)) {  // allowed ids: packed here, once per call
      I64Vec ids = nb::cast<I64Vec>(entry);
      flt.count = pack_ids(ids.data(), ids.shape(0), n, fs.made.emplace_back());
      flt.words = fs.made.back().data();
      if (flt.count <= n / 16) {  // a short sorted list is cheaper for the exact scan to walk
        std::vector<std::uint32_t>& sorted = fs.made_ids.emplace_back();
        sorted.reserve(flt.count);
        flt.for_each_in(0, n, [&](std::size_t id) { sorted.push_back(static_cast<std::uint32_t>(id)); });
        flt.ids = sorted.data();
        flt.n_ids = sorted.size();
      }
      continue;
    }
    nb::tuple t = nb::borrow<nb::tuple>(entry);
    if (t.size() != 3) throw std::invalid_argument("a filter is (words, ids, count)");
    Words w = nb::cast<Words>(t[0]);
    if (w.shape(0) != n_words) throw std::invalid_argument("filter bitset has the wrong number of words");
    if (n % 64 != 0 && (w.data()[n / 64] >> (n % 64)) != 0)
      throw std::invalid_argument("filter bitset has bits set past the number of points");
    flt.words = w.data();
    flt.count = nb::cast<std::uint64_t>(t[2]);
    fs.words.push_back(w);
    if (!t[1].is_none()) {
      U32Vec ids = nb::cast<U32Vec>(t[1]);
      const std::uint32_t* p = ids.data();
      for (std::size_t i = 0; i < ids.shape(0); ++i) {
        if (p[i] >= n) throw std::invalid_argument("filter id out of range");
        if (i > 0 && p[i] <= p[i - 1]) throw std::invalid_argument("filter ids must be strictly increasing");
      }
      flt.ids = p;
      flt.n_ids = ids.shape(0);
      fs.ids.push_back(ids);
    }
  }
  if (of_query.is_none()) {
    if (m != 1) throw std::invalid_argument("several filters need filter_of_query");
    return fs;
  }
  I32Vec foq = nb::cast<I32Vec>(of_query);
  if (foq.shape(0) != nq) throw std::invalid_argument("filter_of_query must have one entry per query");
  for (std::size_t q = 0; q < nq; ++q)
    if (foq.data()[q] >= static_cast<std::int32_t>(m)) throw std::invalid_argument("filter index out of range");
  fs.of_query = foq;
  return fs;
}

}  // namespace mcindex::bindings
