// The one place that decides which instruction set the kernels use.
#include <cstdlib>
#include <initializer_list>
#include <cstring>

#include "distance/distance.hpp"

namespace mcindex {
namespace {

bool cpu_has(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return true;
#if defined(MCINDEX_X86)
    case SimdLevel::AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("fma");
#endif
#if defined(MCINDEX_NEON)
    case SimdLevel::NEON: return true;
#endif
    default: return false;
  }
}

const DistanceKernels* compiled(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return &kScalarKernels;
#if defined(MCINDEX_X86)
    case SimdLevel::AVX2: return &kAvx2Kernels;
    case SimdLevel::AVX512: return &kAvx512Kernels;
#endif
#if defined(MCINDEX_NEON)
    case SimdLevel::NEON: return &kNeonKernels;
#endif
    default: return nullptr;
  }
}

const DistanceKernels& choose() {
  // MCINDEX_SIMD lets a user (or a test) cap the level, e.g. to rule out a kernel bug.
  const char* forced = std::getenv("MCINDEX_SIMD");
  if (forced != nullptr) {
    for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512, SimdLevel::NEON}) {
      if (std::strcmp(forced, simd_level_name(l)) == 0) {
        if (const DistanceKernels* k = kernels_for(l)) return *k;
      }
    }
  }
  for (SimdLevel l : {SimdLevel::AVX512, SimdLevel::AVX2, SimdLevel::NEON}) {
    if (const DistanceKernels* k = kernels_for(l)) return *k;
  }
  return kScalarKernels;
}

}  // namespace

const DistanceKernels* kernels_for(SimdLevel level) {
  return cpu_has(level) ? compiled(level) : nullptr;
}

const DistanceKernels& kernels() {
  static const DistanceKernels& chosen = choose();
  return chosen;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return "scalar";
    case SimdLevel::AVX2: return "avx2";
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::NEON: return "neon";
  }
  return "unknown";
}

}  // namespace mcindex
