// Maximal clique enumeration on a small dense graph (at most a few hundred vertices):
// Bron-Kerbosch with pivoting, sets as bitsets, top level in degeneracy order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mcindex {

class LocalGraph {
 public:
  void reset(std::size_t m) {
    m_ = m;
    words_ = (m + 63) / 64;
    adj_.assign(m * words_, 0);
  }
  std::size_t size() const { return m_; }
  std::size_t words() const { return words_; }
  void link(std::size_t a, std::size_t b) {
    adj_[a * words_ + (b >> 6)] |= std::uint64_t{1} << (b & 63);
    adj_[b * words_ + (a >> 6)] |= std::uint64_t{1} << (a & 63);
  }
  const std::uint64_t* row(std::size_t v) const { return adj_.data() + v * words_; }

 private:
  std::size_t m_ = 0, words_ = 0;
  std::vector<std::uint64_t> adj_;
};

// Calls on_clique(members) for each maximal clique (vertex indices of the local graph);
// on_clique returns false to stop. Stops by itself after `max_calls` recursive calls, so a
// pathological local graph cannot stall a build. Returns the number of calls made.
class CliqueEnumerator {
 public:
  template <typename OnClique>
  std::size_t run(const LocalGraph& g, std::size_t max_calls, OnClique&& on_clique);

 private:
  template <typename OnClique>
  bool expand(const LocalGraph& g, std::size_t depth, OnClique& on_clique);

  std::uint64_t* P(std::size_t depth) { return sets_.data() + (2 * depth) * words_; }
  std::uint64_t* X(std::size_t depth) { return sets_.data() + (2 * depth + 1) * words_; }

  std::size_t words_ = 0, calls_ = 0, max_calls_ = 0;
  std::vector<std::uint64_t> sets_;      // P and X per recursion depth
  std::vector<std::uint32_t> clique_;    // R
  std::vector<std::uint32_t> order_, degree_;
};

inline int popcount_and(const std::uint64_t* a, const std::uint64_t* b, std::size_t w) {
  int c = 0;
  for (std::size_t i = 0; i < w; ++i) c += __builtin_popcountll(a[i] & b[i]);
  return c;
}

template <typename OnClique>
std::size_t CliqueEnumerator::run(const LocalGraph& g, std::size_t max_calls, OnClique&& on_clique) {
  const std::size_t m = g.size();
  words_ = g.words();
  calls_ = 0;
  max_calls_ = max_calls;
  sets_.assign(2 * (m + 2) * words_, 0);
  clique_.clear();
  if (m == 0) return 0;

  // Degeneracy order: repeatedly remove a vertex of minimum remaining degree (O(m^2), m small).
  degree_.assign(m, 0);
  for (std::size_t v = 0; v < m; ++v) {
    int d = 0;
    for (std::size_t w = 0; w < words_; ++w) d += __builtin_popcountll(g.row(v)[w]);
    degree_[v] = static_cast<std::uint32_t>(d);
  }
  order_.clear();
  std::vector<bool> removed(m, false);
  for (std::size_t step = 0; step < m; ++step) {
    std::size_t best = m;
    for (std::size_t v = 0; v < m; ++v)
      if (!removed[v] && (best == m || degree_[v] < degree_[best])) best = v;
    removed[best] = true;
    order_.push_back(static_cast<std::uint32_t>(best));
    for (std::size_t v = 0; v < m; ++v)
      if (!removed[v] && ((g.row(best)[v >> 6] >> (v & 63)) & 1u)) --degree_[v];
  }

  // Top level: for each v in order, cliques whose earliest vertex (in that order) is v.
  std::vector<std::uint64_t> later(words_, 0), earlier(words_, 0);
  for (std::uint32_t v : order_) later[v >> 6] |= std::uint64_t{1} << (v & 63);
  for (std::uint32_t v : order_) {
    later[v >> 6] &= ~(std::uint64_t{1} << (v & 63));
    for (std::size_t w = 0; w < words_; ++w) {
      P(0)[w] = later[w] & g.row(v)[w];
      X(0)[w] = earlier[w] & g.row(v)[w];
    }
    clique_.assign(1, v);
    if (!expand(g, 0, on_clique)) break;
    earlier[v >> 6] |= std::uint64_t{1} << (v & 63);
  }
  return calls_;
}

template <typename OnClique>
bool CliqueEnumerator::expand(const LocalGraph& g, std::size_t depth, OnClique& on_clique) {
  if (++calls_ > max_calls_) return false;
  std::uint64_t* p = P(depth);
  std::uint64_t* x = X(depth);
  bool p_empty = true, x_empty = true;
  for (std::size_t w = 0; w < words_; ++w) {
    p_empty &= p[w] == 0;
    x_empty &= x[w] == 0;
  }
  if (p_empty) return x_empty ? on_clique(clique_) : true;

  // Pivot: the vertex of P u X with the most neighbours in P; branch only on P \ N(pivot).
  int best = -1;
  std::size_t pivot = 0;
  for (std::size_t w = 0; w < words_; ++w) {
    std::uint64_t bits = p[w] | x[w];
    while (bits) {
      std::size_t u = (w << 6) + static_cast<std::size_t>(__builtin_ctzll(bits));
      bits &= bits - 1;
      int c = popcount_and(p, g.row(u), words_);
      if (c > best) { best = c; pivot = u; }
    }
  }
  for (std::size_t w = 0; w < words_; ++w) {
    std::uint64_t branch = p[w] & ~g.row(pivot)[w];
    while (branch) {
      std::size_t v = (w << 6) + static_cast<std::size_t>(__builtin_ctzll(branch));
      branch &= branch - 1;
      const std::uint64_t* nv = g.row(v);
      for (std::size_t i = 0; i < words_; ++i) {
        P(depth + 1)[i] = p[i] & nv[i];
        X(depth + 1)[i] = x[i] & nv[i];
      }
      clique_.push_back(static_cast<std::uint32_t>(v));
      bool go_on = expand(g, depth + 1, on_clique);
      clique_.pop_back();
      if (!go_on) return false;
      p[v >> 6] &= ~(std::uint64_t{1} << (v & 63));
      x[v >> 6] |= std::uint64_t{1} << (v & 63);
    }
  }
  return true;
}

}  // namespace mcindex
