#include "cliques/clique_cover.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <numeric>
#include <random>

#include "cliques/bron_kerbosch.hpp"

namespace mcindex {
namespace {

// One thread's accepted cliques of a round, concatenated into the CSR afterwards.
struct CliqueList {
  std::vector<std::uint32_t> members;
  std::vector<std::uint64_t> sizes;
  std::vector<float> thresholds;
  void clear() { members.clear(); sizes.clear(); thresholds.clear(); }
};

struct SeedScratch {
  std::vector<std::uint32_t> local;  // local vertex -> point id; local[0] is the seed
  std::vector<float> dist;           // squared L2 from the seed, parallel to pool entries
  std::vector<std::uint32_t> cand;   // non-hub pool members
  LocalGraph graph;
  CliqueEnumerator enumerator;
  std::vector<std::uint32_t> members;  // the clique being accepted
};

class CoverRoundRunner {
 public:
  CoverRoundRunner(const BuildContext& ctx, const KnnPool& pool, const CoverParams& p,
                   std::vector<std::atomic<std::uint32_t>>& count)
      : ctx_(ctx), pairs_(ctx.distances()), pool_(pool), p_(p), count_(count), last_size_(pool.n, 0) {}

  bool uncovered(std::uint32_t v) const {
    return count_[v].load(std::memory_order_relaxed) < p_.min_memberships;
  }

  // Processes one seed; appends accepted cliques (as member lists) to `out`.
  void process(std::uint32_t s, float alpha, bool fallback, SeedScratch& sc, CliqueList& out) {
    if (!uncovered(s)) return;
    // The fallback only guarantees one clique per point; more would repeat the same few points.
    if (fallback && count_[s].load(std::memory_order_relaxed) > 0) return;
    const std::uint32_t* row = pool_.row(s);
    const std::size_t pc = pool_.count[s];
    sc.cand.clear();
    sc.dist.clear();
    for (std::size_t j = 0; j < pc; ++j) {
      std::uint32_t v = row[j];
      if (count_[v].load(std::memory_order_relaxed) >= p_.hub_cap) continue;  // hub
      sc.cand.push_back(v);
      sc.dist.push_back(pairs_.l2sq_between(s, v));
    }

    if (fallback) {  // every point must end up in some clique: the seed and its nearest few
      sc.members.assign(1, s);
      std::vector<std::size_t> idx(sc.cand.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return sc.dist[a] < sc.dist[b]; });
      for (std::size_t j = 0; j < idx.size() && sc.members.size() < p_.fallback_size; ++j) sc.members.push_back(sc.cand[idx[j]]);
      if (sc.members.size() == 1) {  // hubs only: fall back to the raw pool so the seed is linked
        for (std::size_t j = 0; j < pc && sc.members.size() < p_.fallback_size; ++j) sc.members.push_back(row[j]);
      }
      accept(sc.members, std::numeric_limits<float>::infinity(), out);
      return;
    }

    // Threshold: alpha times the distance to the nearest (distinct) pool member.
    float r = 0.0f;
    for (float d : sc.dist) if (d > 0.0f && (r == 0.0f || d < r)) r = d;
    const float theta = alpha * r;
    sc.local.assign(1, s);
    for (std::size_t j = 0; j < sc.cand.size(); ++j)
      if (sc.dist[j] <= theta) sc.local.push_back(sc.cand[j]);
    // A seed's next clique must reach further than its last one (its ball grows with alpha);
    // otherwise it would store a subset of a clique it already added.
    if (sc.local.size() < p_.min_clique_size || sc.local.size() <= last_size_[s]) return;

    // Local graph over the seed and its near candidates: linked when within theta.
    const std::size_t m = sc.local.size();
    sc.graph.reset(m);
    for (std::size_t a = 1; a < m; ++a) sc.graph.link(0, a);  // within theta of the seed by construction
    for (std::size_t a = 1; a < m; ++a)
      for (std::size_t b = a + 1; b < m; ++b)
        if (pairs_.l2sq_between(sc.local[a], sc.local[b]) <= theta) sc.graph.link(a, b);

    std::size_t accepted = 0;
    sc.enumerator.run(sc.graph, p_.max_clique_calls, [&](const std::vector<std::uint32_t>& clique) {
      if (clique.size() < p_.min_clique_size) return true;
      bool has_uncovered = false;
      for (std::uint32_t i : clique) has_uncovered |= uncovered(sc.local[i]);
      if (!has_uncovered) return true;
      last_size_[s] = static_cast<std::uint32_t>(sc.local.size());
      if (p_.extend_cliques) {
        // The clique plus the seed's remaining near candidates: one larger clique per seed.
        // (Every maximal clique here contains the seed, which is linked to all, so the
        // enumeration acts as the gate "a clique of at least min_clique_size exists".)
        accept(sc.local, theta, out);
        ++accepted;
        return false;
      }
      sc.members.clear();
      for (std::uint32_t i : clique) sc.members.push_back(sc.local[i]);
      accept(sc.members, theta, out);
      return ++accepted < p_.clique_quota;
    });
  }

 private:
  void accept(const std::vector<std::uint32_t>& clique, float theta, CliqueList& out) {
    for (std::uint32_t v : clique) count_[v].fetch_add(1, std::memory_order_relaxed);
    out.members.insert(out.members.end(), clique.begin(), clique.end());
    out.sizes.push_back(clique.size());
    out.thresholds.push_back(theta);
  }

  const BuildContext& ctx_;
  const FlatDistance pairs_;
  const KnnPool& pool_;
  const CoverParams& p_;
  std::vector<std::atomic<std::uint32_t>>& count_;
  std::vector<std::uint32_t> last_size_;  // local-graph size of each seed's last accepted clique
};

}  // namespace

CliqueCover build_clique_cover(const BuildContext& ctx, const KnnPool& pool, const CoverParams& p) {
  const std::size_t n = ctx.base.n;
  CliqueCover cover;
  cover.clique_offsets.assign(1, 0);
  if (n == 0) return cover;

  std::vector<std::atomic<std::uint32_t>> count(n);
  for (auto& c : count) c.store(0, std::memory_order_relaxed);
  CoverRoundRunner runner(ctx, pool, p, count);

  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(p.seed ^ 0x9E3779B97F4A7C15ull);
  std::shuffle(order.begin(), order.end(), rng);  // spread cliques: neighbours rarely seed together

  const int threads = std::max(1, p.threads > 0 ? p.threads : ctx.threads);
  std::vector<CliqueList> lists(threads);
  float alpha = p.alpha;
  std::vector<std::uint32_t> seeds;
  for (std::size_t round = 0;; ++round) {
    seeds.clear();
    for (std::uint32_t v : order) if (runner.uncovered(v)) seeds.push_back(v);
    if (seeds.empty()) break;
    const bool fallback = alpha > p.alpha_max || n <= p.min_clique_size;
    if (!ctx.report("clique cover", n - seeds.size(), n)) throw BuildCancelled();

    constexpr std::size_t kChunk = 64;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> cancelled{false};
    RegionErrors errors;
    for (CliqueList& l : lists) l.clear();  // serially: a smaller team must not leave stale cliques
#pragma omp parallel num_threads(threads)
    errors.run([&] {
      SeedScratch sc;
      const int t = omp_get_thread_num();
      for (;;) {
        std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
        if (begin >= seeds.size() || cancelled.load(std::memory_order_relaxed) ||
            errors.stop.load(std::memory_order_relaxed))
          break;
        std::size_t end = std::min(seeds.size(), begin + kChunk);
        for (std::size_t i = begin; i < end; ++i) {
          // Thread 0 (the caller) reports between seeds: a seed's local graph can take
          // milliseconds, and Ctrl-C should not wait for a whole chunk of them.
          if (t == 0 && !ctx.report("clique cover", n - seeds.size() + i, n)) {
            cancelled.store(true);
            break;
          }
          runner.process(seeds[i], alpha, fallback, sc, lists[t]);
        }
      }
    });
    errors.rethrow();
    if (cancelled.load()) throw BuildCancelled();

    std::size_t added = 0;
    for (const CliqueList& l : lists) {
      for (std::uint64_t size : l.sizes) cover.clique_offsets.push_back(cover.clique_offsets.back() + size);
      cover.clique_members.insert(cover.clique_members.end(), l.members.begin(), l.members.end());
      cover.clique_thresholds.insert(cover.clique_thresholds.end(), l.thresholds.begin(), l.thresholds.end());
      added += l.sizes.size();
    }
    std::size_t still = 0;
    for (std::uint32_t v : seeds) still += runner.uncovered(v) ? 1 : 0;
    const std::size_t newly = seeds.size() - still;
    cover.rounds.push_back({alpha, seeds.size(), added, newly});
    if (fallback) {
      // One fallback round: afterwards every point is in at least one clique; points still
      // below min_memberships stay so (min_memberships is a target of the densification).
      cover.fallback_cliques += added;
      break;
    }
    // The schedule: a productive round (>= 10% fewer uncovered) steps alpha; a poor one doubles it.
    if (10 * newly >= seeds.size() && newly > 0) alpha += p.alpha;
    else alpha *= 2.0f;
  }
  if (!ctx.report("clique cover", n, n)) throw BuildCancelled();
  return cover;
}

}  // namespace mcindex
