// Helpers for OpenMP regions shared by every parallel phase: exception capture, cooperative
// cancellation (Ctrl-C) and a work-sharing loop that keeps noticing it.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

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

// Cooperative cancellation of one long call (a batch search). Workers test stopped() between
// units of work (a query, a block of rows) and give up the rest once it is true. poll() asks the
// host whether to go on: at most once per `interval`, and only on the thread that created the
// Interrupt (the caller, which for Python is the thread that released the GIL and may take it
// back to check for Ctrl-C); on any other thread, or without a check, it does nothing. So every
// loop may call poll() freely. A check must not throw; it returns false to stop.
class Interrupt {
 public:
  using Check = std::function<bool()>;

  Interrupt() = default;
  explicit Interrupt(Check check, std::chrono::milliseconds interval = std::chrono::milliseconds(50))
      : check_(std::move(check)), interval_(interval), owner_(std::this_thread::get_id()),
        last_(std::chrono::steady_clock::now()) {}
  Interrupt(const Interrupt&) = delete;
  Interrupt& operator=(const Interrupt&) = delete;

  bool stopped() const noexcept { return stop_.load(std::memory_order_relaxed); }
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  // True when poll() can do anything at all: a check is set and this is the owning thread.
  bool polls_here() const noexcept { return check_ && std::this_thread::get_id() == owner_; }

  void poll() {
    if (!polls_here() || stopped()) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < interval_) return;
    last_ = now;
    if (!check_()) stop();
  }

 private:
  Check check_;
  std::chrono::milliseconds interval_{50};
  std::thread::id owner_{};
  std::chrono::steady_clock::time_point last_{};
  std::atomic<bool> stop_{false};
};

// Calls body(state, i) for every i in [0, count) on up to `threads` threads, which claim `chunk`
// items at a time from a shared counter; `state` is one make_state() per thread (its scratch).
// The first exception is rethrown after the region and stops the other threads. With an
// interrupt, the remaining items are skipped once it is stopped; the calling thread polls it
// between its items and, when no item is left to claim, waits for the other threads to finish
// theirs while still polling, so Ctrl-C is noticed within one poll interval whatever the calling
// thread is doing (in an `omp for` it would sit in the closing barrier, deaf, while others work).
template <typename MakeState, typename Body>
void parallel_for(std::size_t count, int threads, std::size_t chunk, Interrupt* interrupt, MakeState&& make_state,
                  Body&& body) {
  if (count == 0) return;
  threads = std::max(1, threads);
  chunk = std::max<std::size_t>(1, chunk);
  if (threads == 1 || count == 1) {
    // No team: starting one costs microseconds, as much as a whole query on a small index.
    auto state = make_state();
    for (std::size_t i = 0; i < count; ++i) {
      if (interrupt != nullptr && interrupt->stopped()) break;
      body(state, i);
      if (interrupt != nullptr) interrupt->poll();
    }
    return;
  }
  RegionErrors errors;
  std::atomic<std::size_t> next{0};
  // Threads done with their items. The calling thread, once done, spins briefly (the others
  // usually finish within microseconds), then sleeps on `done`, waking to poll: a long spin could
  // keep the last worker off its CPU on a busy machine, as measured with a yield loop.
  std::atomic<int> finished{0};
  std::mutex mutex;
  std::condition_variable done;
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads();
    errors.run([&] {
      auto state = make_state();
      for (;;) {
        if (errors.stop.load(std::memory_order_relaxed) || (interrupt != nullptr && interrupt->stopped())) break;
        const std::size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
        if (begin >= count) break;
        const std::size_t end = std::min(count, begin + chunk);
        for (std::size_t i = begin; i < end; ++i) {
          body(state, i);
          if (interrupt != nullptr) {
            interrupt->poll();
            if (interrupt->stopped()) break;
          }
        }
      }
    });
    if (interrupt != nullptr && interrupt->polls_here()) {
      finished.fetch_add(1, std::memory_order_acq_rel);
      const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (finished.load(std::memory_order_acquire) < team && std::chrono::steady_clock::now() < spin_until) {
      }
      std::unique_lock<std::mutex> lock(mutex);
      while (finished.load(std::memory_order_acquire) < team) {
        done.wait_for(lock, std::chrono::milliseconds(20));
        lock.unlock();
        interrupt->poll();  // may take the GIL: never while holding the mutex
        lock.lock();
      }
    } else {
      {
        std::lock_guard<std::mutex> lock(mutex);  // no wake-up lost between the check and the wait
        finished.fetch_add(1, std::memory_order_acq_rel);
      }
      done.notify_one();
    }
  }
  errors.rethrow();
}

}  // namespace mcindex
