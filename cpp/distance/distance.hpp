// Distance kernels for float32 vectors, one implementation per instruction set,
// chosen once at run time (dispatch.cpp). Everything else calls through kernels().
#pragma once

#include <cstddef>

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

struct DistanceKernels {
  SimdLevel level;
  DistanceFn l2sq;  // sum (a_i - b_i)^2
  DistanceFn dot;   // sum a_i * b_i
  BatchDistanceFn l2sq_batch;
  BatchDistanceFn dot_batch;
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
