// Builds the batch form of a kernel inside the including (ISA-specific) translation unit,
// so the per-row kernel is inlined there rather than called through a pointer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "distance/distance.hpp"

namespace mcindex {
// Internal linkage: this header is compiled into every ISA's translation unit with different
// flags, so its functions must not be merged across them by the linker.
namespace {

// Rows are fetched from memory ahead of use: a gathered row (200 bytes at dim 50) spans several
// cache lines, and at selective filters these misses, not the arithmetic, decide the speed. A
// row rarely starts on a line boundary, so every line it touches is fetched, from the one
// holding its first byte to its last.
constexpr std::size_t kPrefetchAhead = 8;

inline void prefetch_span(const void* start, std::size_t bytes) {
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(start) & ~std::uintptr_t{63};
  const std::uintptr_t end = reinterpret_cast<std::uintptr_t>(start) + bytes;
  for (std::uintptr_t line = first; line < end; line += 64)
    __builtin_prefetch(reinterpret_cast<const void*>(line));
}

inline void prefetch_row(const float* row, std::size_t dim) { prefetch_span(row, dim * sizeof(float)); }

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

// ---- SQ8 code rows ----------------------------------------------------------------------------
// `row(code)` is the kernel bound to the query; rows as in Sq8BatchFn.
template <typename Row>
inline void sq8_rows(const std::uint8_t* codes, std::size_t stride, std::size_t dim,
                     const unsigned* ids, std::size_t count, float* out, Row row) {
  if (ids != nullptr) {
    for (std::size_t j = 0; j < count && j < kPrefetchAhead; ++j)
      prefetch_span(codes + static_cast<std::size_t>(ids[j]) * stride, dim);
    for (std::size_t j = 0; j < count; ++j) {
      if (j + kPrefetchAhead < count)
        prefetch_span(codes + static_cast<std::size_t>(ids[j + kPrefetchAhead]) * stride, dim);
      out[j] = row(codes + static_cast<std::size_t>(ids[j]) * stride);
    }
  } else {
    for (std::size_t j = 0; j < count; ++j) out[j] = row(codes + j * stride);
  }
}

template <Sq8L2Fn Kernel>
void batch_sq8_l2(const float* q_minus_lo, const float* scale, const std::uint8_t* codes,
                  std::size_t stride, std::size_t dim, const unsigned* ids, std::size_t count,
                  float* out) {
  sq8_rows(codes, stride, dim, ids, count, out,
           [=](const std::uint8_t* c) { return Kernel(q_minus_lo, scale, c, dim); });
}

template <Sq8DotFn Kernel>
void batch_sq8_dot(const float* w, const float* /*scale: unused*/, const std::uint8_t* codes,
                   std::size_t stride, std::size_t dim, const unsigned* ids, std::size_t count,
                   float* out) {
  sq8_rows(codes, stride, dim, ids, count, out,
           [=](const std::uint8_t* c) { return Kernel(w, c, dim); });
}

}  // namespace
}  // namespace mcindex
