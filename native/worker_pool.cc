// Addon-owned worker threads and the completion path back to JS (see worker_pool.h).
#include "worker_pool.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <iterator>
#include <system_error>
#include <utility>

namespace odxcp {

WorkerPool::WorkerPool(Napi::Env env) {
  tsfn_ = Tsfn::New(env, "odxcp:complete", 0, 1, this);
  tsfn_.Unref(env);  // nothing in flight yet
}

WorkerPool::~WorkerPool() { Shutdown(); }

int WorkerPool::StartWorkerLocked() {
  threads_.emplace_back();
  auto self = std::prev(threads_.end());
  // Workers block every signal (they inherit the mask at creation), so signals meant for
  // node's own handlers never land on a thread parked in SG_IO.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int error = 0;
  try {
    // The new thread first takes mu_, which the caller holds, so `*self` is assigned before
    // the worker can look at it.
    *self = std::thread(&WorkerPool::WorkerMain, this, self);
    // Named here rather than by the thread itself, so it carries the name from the moment it
    // is counted (threadStats, /proc/<pid>/task/*/comm).
    pthread_setname_np(self->native_handle(), "odxcp-worker");
  } catch (const std::system_error& e) {
    threads_.erase(self);
    error = e.code().value() != 0 ? e.code().value() : EAGAIN;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return error;
}

int WorkerPool::Submit(Napi::Env env, std::unique_ptr<Job>& job) {
  JoinExited();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return ESHUTDOWN;
    // Start a worker when the queued jobs (this one included) outnumber the idle workers that
    // will wake for them. If that fails, queue anyway as long as some worker exists.
    if (queue_.size() + 1 > idle_ && threads_.size() < kMaxThreads) {
      const int error = StartWorkerLocked();
      if (error != 0 && threads_.empty()) return error;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  if (inFlight_++ == 0) tsfn_.Ref(env);  // keep the loop alive until the result is back
  return 0;
}

void WorkerPool::WorkerMain(std::list<std::thread>::iterator self) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_) break;
    if (!queue_.empty()) {
      std::unique_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job->Run();
      Deliver(std::move(job));
      lock.lock();
      continue;
    }
    ++idle_;
    const bool woken = cv_.wait_for(lock, kIdleExit, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (!woken) break;  // idle too long: give the thread back
  }
  // During Shutdown the handles belong to Shutdown; otherwise hand ours over to be joined.
  if (!stopping_) {
    exited_.push_back(std::move(*self));
    threads_.erase(self);
  }
}

void WorkerPool::Deliver(std::unique_ptr<Job> job) {
  Job* raw = job.release();
  // Fails only while the environment is being torn down; then nobody waits for the result.
  if (tsfn_.NonBlockingCall(raw) != napi_ok) {
    raw->Abandon();
    delete raw;
  }
}

void WorkerPool::CallJs(Napi::Env env, Napi::Function, WorkerPool* pool, Job* raw) {
  std::unique_ptr<Job> job(raw);
  if (static_cast<napi_env>(env) == nullptr || pool == nullptr) {
    // The thread-safe function is being finalized with this result still queued.
    job->Abandon();
    return;
  }
  if (--pool->inFlight_ == 0) pool->tsfn_.Unref(env);
  // Nothing may escape from here: node-addon-api would rethrow it into JS, and when that fails
  // too (N-API calls fail once a Worker is being terminated) the process aborts. Complete()
  // throws only when the environment can no longer run JS (or is out of memory); nobody can
  // observe the promise then, so the result is dropped with the job.
  try {
    job->Complete(env);
  } catch (...) {
  }
}

void WorkerPool::JoinExited() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(exited_);
  }
  for (auto& t : done) t.join();  // already past their loop: returns at once
}

void WorkerPool::Shutdown() {
  std::vector<std::thread> all;
  std::deque<std::unique_ptr<Job>> orphans;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& t : threads_) all.push_back(std::move(t));
    threads_.clear();
    for (auto& t : exited_) all.push_back(std::move(t));
    exited_.clear();
    orphans.swap(queue_);
  }
  cv_.notify_all();
  // A worker inside SG_IO finishes that command first: the kernel owns its buffers until then.
  for (auto& t : all) {
    if (t.joinable()) t.join();
  }
  for (auto& job : orphans) job->Abandon();
}

PoolStats WorkerPool::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return PoolStats{static_cast<uint32_t>(threads_.size()), static_cast<uint32_t>(idle_), inFlight_};
}

}  // namespace odxcp
