// The one filter form every search path takes: a packed bitset over ids [0, n) (bit i of word
// i/64, least significant bit first: the layout of mcindex.Bitmap and of FAISS's
// IDSelectorBitmap on little-endian machines), the number of set bits, and optionally the same
// set as sorted ids (a selective filter is cheaper to walk as a list than as n/64 mostly-zero
// words). Whoever makes a Filter computes its count once; nothing downstream recounts it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcindex {

struct Filter {
  const std::uint64_t* words = nullptr;  // nullptr: every id is allowed
  std::size_t n = 0;
  std::uint64_t count = 0;               // set bits
  const std::uint32_t* ids = nullptr;    // optional: the set ids, ascending
  std::size_t n_ids = 0;

  bool allows_all() const { return words == nullptr; }
  bool test(std::size_t i) const { return words == nullptr || ((words[i >> 6] >> (i & 63)) & 1u); }

  // Calls f(id) for each allowed id in [begin, end), ascending. Whole zero words cost one load.
  template <typename F>
  void for_each_in(std::size_t begin, std::size_t end, F&& f) const {
    if (begin >= end) return;
    if (words == nullptr) {
      for (std::size_t i = begin; i < end; ++i) f(i);
      return;
    }
    std::size_t w = begin >> 6;
    const std::size_t last = (end - 1) >> 6;
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

  // `count` allowed ids spread evenly over the set (ranks j * total / count, j < count), in
  // ascending order, written to out; returns how many were written. `total` is this filter's
  // count (n when it allows everything); the walk never reads past the ids or the words, so a
  // count that disagrees with the bits cannot make it read out of bounds.
  template <typename Out>
  std::size_t spread(std::size_t want, Out&& out) const {
    const std::uint64_t total = words == nullptr ? n : count;
    if (total == 0 || want == 0) return 0;
    if (words == nullptr) {
      for (std::size_t j = 0; j < want; ++j) out(static_cast<std::uint32_t>(j * total / want));
      return want;
    }
    if (ids != nullptr) {
      std::size_t j = 0;
      for (; j < want; ++j) {
        const std::uint64_t rank = j * total / want;
        if (rank >= n_ids) break;
        out(ids[rank]);
      }
      return j;
    }
    // One pass over the words, taking the set bit of each wanted rank.
    std::size_t j = 0;
    std::uint64_t rank = 0, next = 0;
    const std::size_t n_words = (n + 63) / 64;
    for (std::size_t w = 0; w < n_words && j < want; ++w) {
      const std::uint64_t bits = words[w];
      const std::uint64_t pc = static_cast<std::uint64_t>(__builtin_popcountll(bits));
      while (j < want && next < rank + pc) {
        std::uint64_t b = bits;
        for (std::uint64_t skip = next - rank; skip > 0; --skip) b &= b - 1;
        out(static_cast<std::uint32_t>((w << 6) + static_cast<std::size_t>(__builtin_ctzll(b))));
        ++j;
        next = j * total / want;
      }
      rank += pc;
    }
    return j;
  }
};

}  // namespace mcindex
