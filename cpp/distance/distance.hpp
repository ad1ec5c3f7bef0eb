// Distance kernels for float32 vectors, and for SQ8 codes against a float32 query, one
// implementation per instruction set, chosen once at run time (dispatch.cpp). Everything else
// calls through kernels().
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcindex {

// Distances are "smaller is closer" everywhere:
//   L2: squared Euclidean; IP: negative inner product; Cosine: 1 - dot on unit vectors.
// (storage/flat_storage.hpp turns the kernels' raw values into these.)
enum class Metric : int { L2 = 0, IP = 1, Cosine = 2 };

enum class SimdLevel : int { Scalar = 0, AVX2 = 1, AVX512 = 2, NEON = 3 };

using DistanceFn = float (*)(const float* a, const float* b, std::size_t dim);

// One query against `count` rows of a row-major store with `stride` floats per row:
// rows ids[0..count) when ids is set, else rows 0..count-1. Writes out[0..count).
// Batches keep the hot loop inside one ISA-specific translation unit (no indirect call per row).
using BatchDistanceFn = void (*)(const float* query, const float* base, std::size_t stride,
                                 std::size_t dim, const unsigned* ids, std::size_t count,
                                 float* out);

// ---- SQ8: 8-bit scalar-quantised codes against a float32 query ("asymmetric") ----------------
// A vector x is stored as c_i = clamp(round((x_i - lo_i) / scale_i), 0, 255) and reconstructed
// as lo_i + scale_i * c_i (storage/sq8.hpp trains lo and scale and encodes). The query is
// prepared once, so that the kernels never touch lo:
//   squared L2:    sq8_l2(q - lo, scale, c)       = sum_i ((q_i - lo_i) - scale_i * c_i)^2
//   inner product: sq8_dot(q * scale, c) + sum_i q_i * lo_i   (the caller adds the constant)
// Accumulation is float32, like the float kernels.
using Sq8L2Fn = float (*)(const float* q_minus_lo, const float* scale, const std::uint8_t* code,
                          std::size_t dim);
using Sq8DotFn = float (*)(const float* w, const std::uint8_t* code, std::size_t dim);

// One prepared query against `count` rows of a code matrix with `stride` bytes per row (stride
// >= dim): rows ids[0..count) when ids is set, else rows 0..count-1. Writes out[0..count). Rows
// are prefetched ahead of use. One type for both kernels so that a storage holds one pointer:
// `query` is q - lo for sq8_l2_batch and q * scale for sq8_dot_batch; `scale` is read by
// sq8_l2_batch only (sq8_dot_batch ignores it; nullptr is fine there).
using Sq8BatchFn = void (*)(const float* query, const float* scale, const std::uint8_t* codes,
                            std::size_t stride, std::size_t dim, const unsigned* ids,
                            std::size_t count, float* out);

struct DistanceKernels {
  SimdLevel level;
  DistanceFn l2sq;  // sum (a_i - b_i)^2
  DistanceFn dot;   // sum a_i * b_i
  BatchDistanceFn l2sq_batch;
  BatchDistanceFn dot_batch;
  Sq8L2Fn sq8_l2;    // sum (q_minus_lo_i - scale_i * code_i)^2
  Sq8DotFn sq8_dot;  // sum w_i * code_i
  Sq8BatchFn sq8_l2_batch;
  Sq8BatchFn sq8_dot_batch;
};

// Kernels of one level; nullptr when that level is not compiled in or the CPU lacks it.
const DistanceKernels* kernels_for(SimdLevel level);

// The best level this CPU supports (or the one forced by MCINDEX_SIMD=scalar|avx2|avx512|neon).
const DistanceKernels& kernels();

const char* simd_level_name(SimdLevel level);

// Per-ISA tables, defined in kernels_*.cpp.
extern const DistanceKernels kScalarKernels;
#if defined(MCINDEX_X86)
extern const DistanceKernels kAvx2Kernels;
extern const DistanceKernels kAvx512Kernels;
#endif
#if defined(MCINDEX_NEON)
extern const DistanceKernels kNeonKernels;
#endif

}  // namespace mcindex
