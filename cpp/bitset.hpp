// The filter representation every search path shares: a packed bitset over ids [0, n),
// bit i of word i/64, least significant bit first (the same layout as mcindex.Bitmap and
// FAISS's IDSelectorBitmap bytes on little-endian machines).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcindex {

// A non-owning view; the Python side (or an index) owns the words.
struct BitsetView {
  const std::uint64_t* words = nullptr;
  std::size_t n = 0;

  bool test(std::size_t i) const { return (words[i >> 6] >> (i & 63)) & 1u; }

  // Calls f(id) for each set id in [begin, end), ascending. Whole zero words cost one load.
  template <typename F>
  void for_each_in(std::size_t begin, std::size_t end, F&& f) const {
    if (begin >= end) return;
    std::size_t w = begin >> 6;
    std::size_t last = (end - 1) >> 6;
    for (; w <= last; ++w) {
      std::uint64_t bits = words[w];
      if (w == (begin >> 6)) bits &= ~std::uint64_t{0} << (begin & 63);
      if (w == last && (end & 63)) bits &= (std::uint64_t{1} << (end & 63)) - 1;
      while (bits) {
        f((w << 6) + static_cast<std::size_t>(__builtin_ctzll(bits)));
        bits &= bits - 1;
      }
    }
  }
};

// The allowed set of one query: all ids, a bitset, or a sorted id list (preferred when set,
// because a selective filter is cheaper to walk as a list than as n/64 mostly-zero words).
struct FilterView {
  BitsetView bits;                  // bits.words == nullptr: no bitset
  const std::uint32_t* ids = nullptr;
  std::size_t n_ids = 0;

  bool allows_all() const { return bits.words == nullptr && ids == nullptr; }
};

}  // namespace mcindex
