// The arrays of a built index, as the search reads them: the vectors (a storage), the
// navigable graph and the two clique CSRs (clique -> members, node -> cliques), named as the
// sections of the index file. Non-owning views; mcindex::Index checks them once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/flat_storage.hpp"
#include "storage/sq8_storage.hpp"

namespace mcindex {

// Row i holds values[offsets[i] .. offsets[i + 1]).
struct Csr {
  const std::uint64_t* offsets = nullptr;  // rows + 1
  const std::uint32_t* values = nullptr;
  std::size_t rows = 0;
  std::size_t n_values = 0;                // length of the values array (offsets[rows] once checked)

  std::uint64_t begin(std::size_t i) const { return offsets[i]; }
  std::uint64_t end(std::size_t i) const { return offsets[i + 1]; }
  std::size_t size() const { return static_cast<std::size_t>(offsets[rows]); }
};

struct IndexData {
  FlatStorage vectors;
  Sq8Storage codes;         // present(): searches score codes, then re-score floats
  Csr nav;                  // node -> navigable-graph neighbours (nav_offsets, nav_neighbors)
  std::uint32_t entry = 0;  // the navigable graph's entry point
  Csr clique_members;       // clique -> its nodes (clique_offsets, clique_members)
  Csr node_cliques;         // node -> its cliques, ascending (node_offsets, node_cliques)

  std::size_t size() const { return vectors.n; }
  std::size_t cliques() const { return clique_members.rows; }
};

}  // namespace mcindex
