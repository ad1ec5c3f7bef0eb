// What every build phase needs: the vectors (through the storage layer's distances), the thread
// count, and a callback that reports progress and asks whether to stop (Ctrl-C). Phases call
// the callback from thread 0 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>

#include "parallel.hpp"
#include "storage/flat_storage.hpp"

namespace mcindex {

// Returns false to cancel the build.
using ProgressFn = std::function<bool(const char* phase, std::size_t done, std::size_t total)>;

struct BuildCancelled : std::runtime_error {
  BuildCancelled() : std::runtime_error("build cancelled") {}
};

struct BuildContext {
  FlatStorage base;
  int threads = 1;
  ProgressFn progress;  // may be empty

  // A distance computer over the vectors, for pairs of stored rows or bound to a query.
  FlatDistance distances() const { return FlatDistance(base); }
  FlatDistance from(const float* q) const {
    FlatDistance d(base);
    d.set_query(q);
    return d;
  }
  // Called from thread 0 only; returns false when the callback asks to stop (the caller then
  // stops its threads and throws BuildCancelled outside any parallel region).
  bool report(const char* phase, std::size_t done, std::size_t total) const {
    return !progress || progress(phase, done, total);
  }
};

}  // namespace mcindex
