#ifndef QFLEET_CLOUD_STORE_REENTRANT_MUTEX_H_
#define QFLEET_CLOUD_STORE_REENTRANT_MUTEX_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace qfleet::cloud {

// An absl::Mutex that the thread holding it may lock again. SqliteDb guards
// its single connection with one, so a store method called inside
// RunInTransaction (same thread) re-enters instead of deadlocking, while
// other threads wait until the outermost Unlock.
class ABSL_LOCKABLE ReentrantMutex {
 public:
  ReentrantMutex() = default;
  ReentrantMutex(const ReentrantMutex&) = delete;
  ReentrantMutex& operator=(const ReentrantMutex&) = delete;

  // Blocks until no other thread holds the mutex; a thread that already
  // holds it only increments its depth. Thread-safe.
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    const std::thread::id me = std::this_thread::get_id();
    // Only this thread can have stored `me`, so a relaxed read that sees it
    // is reliable; any other value means another thread (or none) owns it.
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return;
    }
    mu_.Lock();
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
  }

  // Undoes one Lock by the calling thread, which must hold the mutex;
  // releases it when the depth reaches zero. Thread-safe.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    if (--depth_ == 0) {
      owner_.store(std::thread::id(), std::memory_order_relaxed);
      mu_.Unlock();
    }
  }

  // True when the calling thread holds the mutex. Thread-safe.
  bool HeldByCurrentThread() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

 private:
  absl::Mutex mu_;
  std::atomic<std::thread::id> owner_{};
  int depth_ = 0;  // Touched only by the owning thread.
};

// Holds a ReentrantMutex for the lifetime of the object.
class ABSL_SCOPED_LOCKABLE ReentrantMutexLock {
 public:
  explicit ReentrantMutexLock(ReentrantMutex* mu)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~ReentrantMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  ReentrantMutexLock(const ReentrantMutexLock&) = delete;
  ReentrantMutexLock& operator=(const ReentrantMutexLock&) = delete;

 private:
  ReentrantMutex* const mu_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_STORE_REENTRANT_MUTEX_H_
