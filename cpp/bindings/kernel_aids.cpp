// Testing aids for the SQ8 kernels and for SQ8 training and encoding (tests/test_kernels_sq8.py):
// each kernel level can be called directly, whatever level dispatch chose. Bound into _core by
// bind_kernel_aids, called from module.cpp's NB_MODULE.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/arrays.hpp"
#include "distance/distance.hpp"
#include "storage/sq8.hpp"

namespace nb = nanobind;
using namespace mcindex;
using namespace mcindex::bindings;

namespace {

using Codes = nb::ndarray<const std::uint8_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Mask = nb::ndarray<const bool, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using F32Vec = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

const DistanceKernels& level_kernels(const std::string& name) {
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON}) {
    if (name != simd_level_name(l)) continue;
    if (const DistanceKernels* k = kernels_for(l)) return *k;
    throw std::invalid_argument("SIMD level '" + name + "' is not available here");
  }
  throw std::invalid_argument("unknown SIMD level '" + name + "'");
}

void check_finite(const Matrix& data, const char* what) {
  const std::size_t count = data.shape(0) * data.shape(1);
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(data.data()[i])) throw nb::value_error((std::string(what) + " has NaN or inf").c_str());
}

void check_params(const F32Vec& lo, const F32Vec& scale, std::size_t dim) {
  if (lo.shape(0) != dim || scale.shape(0) != dim)
    throw std::invalid_argument("lo and scale must have one entry per dimension");
  for (std::size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(lo.data()[i])) throw std::invalid_argument("lo must be finite");
    if (!(scale.data()[i] > 0.0f) || !std::isfinite(scale.data()[i]))
      throw std::invalid_argument("scale must be positive and finite");
  }
}

nb::tuple sq8_train(Matrix data, std::size_t sample, std::uint64_t seed, double lower, double upper,
                    std::optional<Mask> exclude) {
  if (data.shape(0) == 0 || data.shape(1) == 0) throw std::invalid_argument("data is empty");
  check_finite(data, "data");
  Sq8TrainOptions opt;
  if (exclude) {
    if (exclude->shape(0) != data.shape(0)) throw std::invalid_argument("exclude must have one entry per row");
    opt.exclude = reinterpret_cast<const std::uint8_t*>(exclude->data());
  }
  opt.sample = sample;
  opt.seed = seed;
  opt.lower = lower;
  opt.upper = upper;
  Sq8Params p;
  {
    nb::gil_scoped_release release;
    p = train_sq8(data.data(), data.shape(0), data.shape(1), data.shape(1), opt);
  }
  return nb::make_tuple(to_numpy(std::move(p.lo)), to_numpy(std::move(p.scale)));
}

Owned2<std::uint8_t> sq8_encode(Matrix data, F32Vec lo, F32Vec scale) {
  const std::size_t n = data.shape(0), dim = data.shape(1);
  check_params(lo, scale, dim);
  auto codes = owned_matrix<std::uint8_t>(n, dim);
  {
    nb::gil_scoped_release release;
    encode_sq8(data.data(), n, dim, dim, lo.data(), scale.data(), codes.data(), dim);
  }
  return codes;
}

// Codes and each row's squared miss: what a build needs to find the rows codes misplace.
nb::tuple sq8_encode_miss(Matrix data, F32Vec lo, F32Vec scale) {
  const std::size_t n = data.shape(0), dim = data.shape(1);
  check_params(lo, scale, dim);
  auto codes = owned_matrix<std::uint8_t>(n, dim);
  std::vector<double> miss(n);
  {
    nb::gil_scoped_release release;
    encode_sq8(data.data(), n, dim, dim, lo.data(), scale.data(), codes.data(), dim, 0, miss.data());
  }
  return nb::make_tuple(codes, to_numpy(std::move(miss)));
}

// Every query against every code row with one level: the squared L2 to the reconstruction
// ("l2sq"), or the inner product with it ("dot": sq8_dot of q * scale plus sum q * lo). Rows of
// `codes` may be wider than the queries (a padded stride); their first dim bytes are the code.
// batched: through the batch kernel, with gathered ids (every row, in reverse order) or, when
// gather is false, the contiguous form (ids == nullptr).
Owned2<float> sq8_pairwise(const std::string& level, const std::string& kind, Matrix queries, Codes codes,
                           F32Vec lo, F32Vec scale, bool batched, bool gather) {
  const DistanceKernels& k = level_kernels(level);
  if (kind != "l2sq" && kind != "dot") throw std::invalid_argument("kind must be 'l2sq' or 'dot'");
  const std::size_t nq = queries.shape(0), dim = queries.shape(1), n = codes.shape(0), stride = codes.shape(1);
  if (stride < dim) throw std::invalid_argument("codes rows are shorter than the queries");
  if (n > std::numeric_limits<unsigned>::max()) throw std::invalid_argument("too many code rows");
  check_params(lo, scale, dim);
  const bool l2 = kind == "l2sq";
  auto out = owned_matrix<float>(nq, n);
  float* o = out.data();
  const std::uint8_t* c = codes.data();
  std::vector<unsigned> ids(n);
  for (std::size_t j = 0; j < n; ++j) ids[j] = static_cast<unsigned>(n - 1 - j);
  std::vector<float> prepared(dim), tmp(n);
  const Sq8BatchFn batch = l2 ? k.sq8_l2_batch : k.sq8_dot_batch;
  const float* batch_scale = l2 ? scale.data() : nullptr;  // sq8_dot_batch must not read it
  for (std::size_t i = 0; i < nq; ++i) {
    const float* q = queries.data() + i * dim;
    float offset = 0.0f;
    if (l2) sq8_prepare_l2(q, lo.data(), dim, prepared.data());
    else offset = sq8_prepare_dot(q, lo.data(), scale.data(), dim, prepared.data());
    float* row = o + i * n;
    if (batched && gather) {
      batch(prepared.data(), batch_scale, c, stride, dim, ids.data(), n, tmp.data());
      for (std::size_t j = 0; j < n; ++j) row[ids[j]] = tmp[j];
    } else if (batched) {
      batch(prepared.data(), batch_scale, c, stride, dim, nullptr, n, row);
    } else {
      for (std::size_t j = 0; j < n; ++j)
        row[j] = l2 ? k.sq8_l2(prepared.data(), scale.data(), c + j * stride, dim)
                    : k.sq8_dot(prepared.data(), c + j * stride, dim);
    }
    if (!l2)
      for (std::size_t j = 0; j < n; ++j) row[j] += offset;
  }
  return out;
}

}  // namespace

void bind_kernel_aids(nb::module_& m) {
  m.def("sq8_train", &sq8_train, nb::arg("data"), nb::arg("sample") = 100000, nb::arg("seed") = 0,
        nb::arg("lower") = 0.001, nb::arg("upper") = 0.999, nb::arg("exclude") = nb::none(),
        "(lo, scale) of SQ8 per dimension, from quantiles of up to `sample` rows (0: all) (testing aid).");
  m.def("sq8_encode", &sq8_encode, nb::arg("data"), nb::arg("lo"), nb::arg("scale"),
        "uint8 SQ8 codes of float32 rows (testing aid).");
  m.def("sq8_encode_miss", &sq8_encode_miss, nb::arg("data"), nb::arg("lo"), nb::arg("scale"),
        "(uint8 SQ8 codes, float64 squared L2 from each row to its code's reconstruction).");
  m.def("sq8_pairwise", &sq8_pairwise, nb::arg("level"), nb::arg("kind"), nb::arg("queries"), nb::arg("codes"),
        nb::arg("lo"), nb::arg("scale"), nb::arg("batched") = false, nb::arg("gather") = true,
        "Squared L2 ('l2sq') or inner product ('dot') between float32 queries and the reconstructions of "
        "SQ8 codes, with one SIMD level's kernels (testing aid).");
}
