// AVX2 + FMA kernels. This file alone is compiled with -mavx2 -mfma; dispatch.cpp only
// calls into it after checking the CPU supports both.
#include <immintrin.h>

#include "distance/batch.hpp"
#include "distance/distance.hpp"

namespace mcindex {
namespace {

inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 s = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, s);
  return _mm_cvtss_f32(_mm_add_ss(s, sh));
}

float l2sq_avx2(const float* a, const float* b, std::size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) { float d = a[i] - b[i]; s += d * d; }
  return s;
}

float dot_avx2(const float* a, const float* b, std::size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= dim; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) s += a[i] * b[i];
  return s;
}

// SQ8 (distance.hpp): 8 codes per step, widened u8 -> i32 -> float from an 8-byte load; the
// last dim % 8 in a scalar loop (a masked byte load does not exist before AVX-512).
inline __m256 widen8(const std::uint8_t* c) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))));
}

float sq8_l2_avx2(const float* q, const float* scale, const std::uint8_t* c, std::size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    // q - scale * code
    __m256 d0 = _mm256_fnmadd_ps(_mm256_loadu_ps(scale + i), widen8(c + i), _mm256_loadu_ps(q + i));
    __m256 d1 = _mm256_fnmadd_ps(_mm256_loadu_ps(scale + i + 8), widen8(c + i + 8), _mm256_loadu_ps(q + i + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  if (i + 8 <= dim) {
    __m256 d = _mm256_fnmadd_ps(_mm256_loadu_ps(scale + i), widen8(c + i), _mm256_loadu_ps(q + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
    i += 8;
  }
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) { float d = q[i] - scale[i] * static_cast<float>(c[i]); s += d * d; }
  return s;
}

float sq8_dot_avx2(const float* w, const std::uint8_t* c, std::size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), widen8(c + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), widen8(c + i + 8), acc1);
  }
  if (i + 8 <= dim) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), widen8(c + i), acc0);
    i += 8;
  }
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; ++i) s += w[i] * static_cast<float>(c[i]);
  return s;
}

}  // namespace

const DistanceKernels kAvx2Kernels{SimdLevel::AVX2, l2sq_avx2, dot_avx2,
                                      batch_distances<l2sq_avx2>, batch_distances<dot_avx2>,
                                      sq8_l2_avx2, sq8_dot_avx2,
                                      batch_sq8_l2<sq8_l2_avx2>, batch_sq8_dot<sq8_dot_avx2>};

}  // namespace mcindex
