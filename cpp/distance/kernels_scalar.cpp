// Portable kernels: the fallback on any CPU and the reference the SIMD ones are tested against.
#include "distance/batch.hpp"
#include "distance/distance.hpp"

namespace mcindex {
namespace {

// Four independent accumulators let the compiler pipeline without -ffast-math.
float l2sq_scalar(const float* a, const float* b, std::size_t dim) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
  }
  for (; i < dim; ++i) { float d = a[i] - b[i]; s0 += d * d; }
  return (s0 + s1) + (s2 + s3);
}

float dot_scalar(const float* a, const float* b, std::size_t dim) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
  }
  for (; i < dim; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// SQ8 (distance.hpp): the reference for the SIMD versions, same four-accumulator shape.
float sq8_l2_scalar(const float* q, const float* scale, const std::uint8_t* c, std::size_t dim) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    float d0 = q[i] - scale[i] * static_cast<float>(c[i]);
    float d1 = q[i + 1] - scale[i + 1] * static_cast<float>(c[i + 1]);
    float d2 = q[i + 2] - scale[i + 2] * static_cast<float>(c[i + 2]);
    float d3 = q[i + 3] - scale[i + 3] * static_cast<float>(c[i + 3]);
    s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
  }
  for (; i < dim; ++i) { float d = q[i] - scale[i] * static_cast<float>(c[i]); s0 += d * d; }
  return (s0 + s1) + (s2 + s3);
}

float sq8_dot_scalar(const float* w, const std::uint8_t* c, std::size_t dim) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    s0 += w[i] * static_cast<float>(c[i]); s1 += w[i + 1] * static_cast<float>(c[i + 1]);
    s2 += w[i + 2] * static_cast<float>(c[i + 2]); s3 += w[i + 3] * static_cast<float>(c[i + 3]);
  }
  for (; i < dim; ++i) s0 += w[i] * static_cast<float>(c[i]);
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

const DistanceKernels kScalarKernels{SimdLevel::Scalar, l2sq_scalar, dot_scalar,
                                      batch_distances<l2sq_scalar>, batch_distances<dot_scalar>,
                                      sq8_l2_scalar, sq8_dot_scalar,
                                      batch_sq8_l2<sq8_l2_scalar>, batch_sq8_dot<sq8_dot_scalar>};

}  // namespace mcindex
