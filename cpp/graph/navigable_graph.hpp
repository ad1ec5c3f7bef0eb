// The sparse navigable graph (Vamana-style: greedy search + RobustPrune, degree <= R, one entry
// point). The index uses it for broad filters and to find seeds near a query; the build uses it
// to produce each point's pool of near neighbours.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "graph/build_context.hpp"
#include "graph/candidate_list.hpp"

namespace mcindex {

// degree, build_list and seed are the keywords of mcindex.Index.build.
struct NavGraphParams {
  std::size_t degree = 32;       // R: max out-degree
  std::size_t build_list = 100;  // L: candidate list size while inserting
  // RobustPrune's alpha on the squared distances the build compares. 1.2 keeps the long edges
  // that reach isolated points (1.0, HNSW's heuristic, was 5-10% cheaper at equal recall on
  // GloVe and 384-d embeddings but lost outliers of clustered data: BENCHMARKS.md); "ip" takes
  // 1.0, since its distances can be negative.
  float prune_slack = 1.2f;
  std::uint64_t seed = 0;        // insertion order
};

// Fixed-stride adjacency used while building (and by the kNN pool phase).
struct FixedGraph {
  std::size_t n = 0, degree = 0;
  std::vector<std::uint32_t> adj;  // n * degree
  std::vector<std::uint32_t> deg;  // n
  std::uint32_t entry = 0;
  // Edges (from, to) beyond a full row, added only to keep every point reachable from the
  // entry (see build_navigable_graph); to_csr merges them. Almost always empty.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> extra;
  const std::uint32_t* neighbors(std::size_t v) const { return adj.data() + v * degree; }
};

struct CsrGraph {
  std::vector<std::uint64_t> offsets;  // n + 1
  std::vector<std::uint32_t> neighbors;
  std::uint32_t entry = 0;
};

// Lock-free parallel build: points are inserted in batches of doubling size; within a batch
// each thread searches the frozen graph and writes only its own point's out-list, then reverse
// edges are grouped by target and each target is updated by exactly one thread. Finally every
// point is made reachable from the entry point (a few repair edges where pruning cut a cluster
// off). The result depends only on the seed, not on the thread count.
FixedGraph build_navigable_graph(const BuildContext& ctx, const NavGraphParams& params);

CsrGraph to_csr(const FixedGraph& g);

// Best-first search from `entries` towards `query`, keeping the `list_size` nearest in `list`.
// When `expanded` is set, every expanded node is appended to it (with its distance); when
// `scored` is set, every node whose distance was computed is.
void beam_search(const BuildContext& ctx, const FixedGraph& g, const float* query,
                 const std::uint32_t* entries, std::size_t n_entries, std::size_t list_size,
                 CandidateList& list, VisitedSet& visited, std::vector<Candidate>* expanded,
                 std::vector<Candidate>* scored = nullptr);

}  // namespace mcindex
