// NEON kernels for arm64 (NEON is part of the AArch64 baseline, so no CPU check is needed).
#include <arm_neon.h>

#include "distance/batch.hpp"
#include "distance/distance.hpp"

namespace mcindex {
namespace {

float l2sq_neon(const float* a, const float* b, std::size_t dim) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
  std::size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc0 = vfmaq_f32(acc0, d0, d0);
    acc1 = vfmaq_f32(acc1, d1, d1);
  }
  for (; i + 4 <= dim; i += 4) {
    float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    acc0 = vfmaq_f32(acc0, d, d);
  }
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < dim; ++i) { float d = a[i] - b[i]; s += d * d; }
  return s;
}

float dot_neon(const float* a, const float* b, std::size_t dim) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
  std::size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  for (; i + 4 <= dim; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  float s = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < dim; ++i) s += a[i] * b[i];
  return s;
}

// SQ8 (distance.hpp): 16 codes per step from one 16-byte load, widened u8 -> u16 -> u32 ->
// float (vmovl, vcvtq); then 8 codes from an 8-byte load; the last dim % 8 in a scalar loop.
inline void widen16(uint8x16_t c, float32x4_t& x0, float32x4_t& x1, float32x4_t& x2, float32x4_t& x3) {
  const uint16x8_t lo = vmovl_u8(vget_low_u8(c));
  const uint16x8_t hi = vmovl_high_u8(c);
  x0 = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
  x1 = vcvtq_f32_u32(vmovl_high_u16(lo));
  x2 = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
  x3 = vcvtq_f32_u32(vmovl_high_u16(hi));
}

inline void widen8(uint8x8_t c, float32x4_t& x0, float32x4_t& x1) {
  const uint16x8_t w = vmovl_u8(c);
  x0 = vcvtq_f32_u32(vmovl_u16(vget_low_u16(w)));
  x1 = vcvtq_f32_u32(vmovl_high_u16(w));
}

// q - scale * code, four lanes (vfmsq_f32(a, b, c) = a - b * c).
inline float32x4_t sq8_diff(const float* q, const float* scale, float32x4_t x) {
  return vfmsq_f32(vld1q_f32(q), vld1q_f32(scale), x);
}

float sq8_l2_neon(const float* q, const float* scale, const std::uint8_t* c, std::size_t dim) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    float32x4_t x0, x1, x2, x3;
    widen16(vld1q_u8(c + i), x0, x1, x2, x3);
    const float32x4_t d0 = sq8_diff(q + i, scale + i, x0);
    const float32x4_t d1 = sq8_diff(q + i + 4, scale + i + 4, x1);
    const float32x4_t d2 = sq8_diff(q + i + 8, scale + i + 8, x2);
    const float32x4_t d3 = sq8_diff(q + i + 12, scale + i + 12, x3);
    acc0 = vfmaq_f32(acc0, d0, d0);
    acc1 = vfmaq_f32(acc1, d1, d1);
    acc2 = vfmaq_f32(acc2, d2, d2);
    acc3 = vfmaq_f32(acc3, d3, d3);
  }
  if (i + 8 <= dim) {
    float32x4_t x0, x1;
    widen8(vld1_u8(c + i), x0, x1);
    const float32x4_t d0 = sq8_diff(q + i, scale + i, x0);
    const float32x4_t d1 = sq8_diff(q + i + 4, scale + i + 4, x1);
    acc0 = vfmaq_f32(acc0, d0, d0);
    acc1 = vfmaq_f32(acc1, d1, d1);
    i += 8;
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < dim; ++i) { float d = q[i] - scale[i] * static_cast<float>(c[i]); s += d * d; }
  return s;
}

float sq8_dot_neon(const float* w, const std::uint8_t* c, std::size_t dim) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
  std::size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    float32x4_t x0, x1, x2, x3;
    widen16(vld1q_u8(c + i), x0, x1, x2, x3);
    acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), x0);
    acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), x1);
    acc2 = vfmaq_f32(acc2, vld1q_f32(w + i + 8), x2);
    acc3 = vfmaq_f32(acc3, vld1q_f32(w + i + 12), x3);
  }
  if (i + 8 <= dim) {
    float32x4_t x0, x1;
    widen8(vld1_u8(c + i), x0, x1);
    acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), x0);
    acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), x1);
    i += 8;
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < dim; ++i) s += w[i] * static_cast<float>(c[i]);
  return s;
}

}  // namespace

const DistanceKernels kNeonKernels{SimdLevel::NEON, l2sq_neon, dot_neon,
                                      batch_distances<l2sq_neon>, batch_distances<dot_neon>,
                                      sq8_l2_neon, sq8_dot_neon,
                                      batch_sq8_l2<sq8_l2_neon>, batch_sq8_dot<sq8_dot_neon>};

}  // namespace mcindex
