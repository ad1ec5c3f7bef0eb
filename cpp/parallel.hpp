// Helpers for OpenMP regions shared by every parallel phase.
#pragma once

#include <atomic>
#include <exception>

namespace mcindex {

// Runs body() inside an OpenMP region without letting an exception escape it (which would
// terminate the process): the first exception is kept, `stop` is raised so the other threads
// finish early, and rethrow() raises it once the region is over.
class RegionErrors {
 public:
  template <typename Body>
  void run(Body&& body) noexcept {
    try {
      body();
    } catch (...) {
#pragma omp critical(mcindex_region_errors)
      if (!error_) error_ = std::current_exception();
      stop.store(true, std::memory_order_relaxed);
    }
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }
  std::atomic<bool> stop{false};

 private:
  std::exception_ptr error_;
};

}  // namespace mcindex
