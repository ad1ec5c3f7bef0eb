// Ctrl-C and progress from the Python side, for calls that run with the GIL released.
#pragma once

#include <nanobind/nanobind.h>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>

#include "parallel.hpp"

namespace mcindex::bindings {

namespace nb = nanobind;

// threading.main_thread().ident, set when the module loads.
inline unsigned long g_main_thread = 0;

// Ctrl-C during a long search. Python runs signal handlers only on the main thread, and only
// when asked: the core's calling thread, between units of work, takes the GIL back at most every
// 50 ms (see Interrupt) and runs them here. A handler's exception (KeyboardInterrupt) stops the
// search and is re-raised once the worker threads have stopped.
class SignalPoll {
 public:
  SignalPoll() : active_(PyThread_get_thread_ident() == g_main_thread) {}

  bool operator()() {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return true;
    error_ = std::make_unique<nb::python_error>();
    return false;
  }

  // An Interrupt polling this object, or one that never polls (off the main thread).
  Interrupt::Check check() {
    if (!active_) return {};
    return [this] { return (*this)(); };
  }

  // With the GIL held, after the call: raise the handler's exception, if any.
  void rethrow(const Interrupt& interrupt) {
    if (error_) {
      nb::python_error e = std::move(*error_);
      error_.reset();
      throw e;
    }
    if (interrupt.stopped()) throw std::runtime_error("search cancelled");
  }

 private:
  bool active_;
  std::unique_ptr<nb::python_error> error_;
};

// Bridges the core's progress callback to Python: at most every 100 ms it takes the GIL, checks
// for Ctrl-C and calls the user's callback. A Python exception cancels the build and is
// re-raised once the worker threads have stopped.
class PythonProgress {
 public:
  explicit PythonProgress(nb::object callback) : callback_(std::move(callback)) {}

  bool operator()(const char* phase, std::size_t done, std::size_t total) {
    auto now = std::chrono::steady_clock::now();
    bool phase_changed = phase != last_phase_;
    if (!phase_changed && done < total && now - last_ < std::chrono::milliseconds(100)) return true;
    last_ = now;
    last_phase_ = phase;
    nb::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0) throw nb::python_error();
      if (!callback_.is_none()) callback_(phase, done, total);
    } catch (nb::python_error& e) {
      error_ = std::make_unique<nb::python_error>(std::move(e));
      return false;
    } catch (...) {  // never let a foreign exception escape into the core's parallel regions
      foreign_ = std::current_exception();
      return false;
    }
    return true;
  }

  // With the GIL held: raise the captured Python exception, if any.
  void rethrow() {
    if (error_) {
      nb::python_error e = std::move(*error_);
      error_.reset();
      throw e;
    }
    if (foreign_) std::rethrow_exception(foreign_);
  }

 private:
  nb::object callback_;
  std::unique_ptr<nb::python_error> error_;
  std::exception_ptr foreign_;
  const char* last_phase_ = nullptr;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace mcindex::bindings
