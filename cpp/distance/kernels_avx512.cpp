// AVX-512F kernels. Compiled with AVX-512 flags in this file only; used after a CPU check.
// The tail is handled with a masked load, so no scalar loop (matters at dim 50, 17, ...).
#include <immintrin.h>

#include "distance/batch.hpp"
#include "distance/distance.hpp"

namespace mcindex {
namespace {

inline __mmask16 tail_mask(std::size_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

float l2sq_avx512(const float* a, const float* b, std::size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 16 <= dim; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {
    __mmask16 m = tail_mask(dim - i);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_avx512(const float* a, const float* b, std::size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= dim; i += 16)
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  if (i < dim) {
    __mmask16 m = tail_mask(dim - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// SQ8 (distance.hpp): 16 codes per step from a 16-byte load, widened u8 -> i32 -> float; the
// tail with masked loads of codes (AVX-512BW) and floats, whose masked-off lanes are zero.
inline __m512 widen16(__m128i c) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c)); }
inline __m512 widen16(const std::uint8_t* c) {
  return widen16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)));
}

float sq8_l2_avx512(const float* q, const float* scale, const std::uint8_t* c, std::size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    // q - scale * code
    __m512 d0 = _mm512_fnmadd_ps(_mm512_loadu_ps(scale + i), widen16(c + i), _mm512_loadu_ps(q + i));
    __m512 d1 = _mm512_fnmadd_ps(_mm512_loadu_ps(scale + i + 16), widen16(c + i + 16),
                                 _mm512_loadu_ps(q + i + 16));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  if (i + 16 <= dim) {
    __m512 d = _mm512_fnmadd_ps(_mm512_loadu_ps(scale + i), widen16(c + i), _mm512_loadu_ps(q + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
    i += 16;
  }
  if (i < dim) {
    __mmask16 m = tail_mask(dim - i);
    __m512 d = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, scale + i), widen16(_mm_maskz_loadu_epi8(m, c + i)),
                                _mm512_maskz_loadu_ps(m, q + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float sq8_dot_avx512(const float* w, const std::uint8_t* c, std::size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), widen16(c + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), widen16(c + i + 16), acc1);
  }
  if (i + 16 <= dim) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), widen16(c + i), acc0);
    i += 16;
  }
  if (i < dim) {
    __mmask16 m = tail_mask(dim - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), widen16(_mm_maskz_loadu_epi8(m, c + i)), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

const DistanceKernels kAvx512Kernels{SimdLevel::AVX512, l2sq_avx512, dot_avx512,
                                      batch_distances<l2sq_avx512>, batch_distances<dot_avx512>,
                                      sq8_l2_avx512, sq8_dot_avx512,
                                      batch_sq8_l2<sq8_l2_avx512>, batch_sq8_dot<sq8_dot_avx512>};

}  // namespace mcindex
