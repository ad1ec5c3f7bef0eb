// Builds the batch form of a kernel inside the including (ISA-specific) translation unit,
// so the per-row kernel is inlined there rather than called through a pointer.
#pragma once

#include <cstddef>

namespace mcindex {
// Internal linkage: this header is compiled into every ISA's translation unit with different
// flags, so its functions must not be merged across them by the linker.
namespace {

// Rows are fetched from memory ahead of use: a gathered row (200 bytes at dim 50) spans several
// cache lines, and at selective filters these misses, not the arithmetic, decide the speed.
constexpr std::size_t kPrefetchAhead = 8;

inline void prefetch_row(const float* row, std::size_t dim) {
  const char* p = reinterpret_cast<const char*>(row);
  const std::size_t bytes = dim * sizeof(float);
  for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

template <float (*Kernel)(const float*, const float*, std::size_t)>
void batch_distances(const float* query, const float* base, std::size_t stride, std::size_t dim,
                     const unsigned* ids, std::size_t count, float* out) {
  if (ids != nullptr) {
    for (std::size_t j = 0; j < count && j < kPrefetchAhead; ++j)
      prefetch_row(base + static_cast<std::size_t>(ids[j]) * stride, dim);
    for (std::size_t j = 0; j < count; ++j) {
      if (j + kPrefetchAhead < count)
        prefetch_row(base + static_cast<std::size_t>(ids[j + kPrefetchAhead]) * stride, dim);
      out[j] = Kernel(query, base + static_cast<std::size_t>(ids[j]) * stride, dim);
    }
  } else {
    for (std::size_t j = 0; j < count; ++j) out[j] = Kernel(query, base + j * stride, dim);
  }
}

}  // namespace
}  // namespace mcindex
