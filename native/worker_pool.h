// The addon's own threads. SG_IO commands (a WRITE USING TOKEN can block for minutes) and
// opens run here, never on the libuv pool that fs and the host-copy fallback need.
// Workers start on demand when no idle one can take a job, up to kMaxThreads; an idle worker
// exits after kIdleExit. Results come back to the JS thread through one thread-safe function
// per environment, ref'd only while jobs are in flight so an idle addon never keeps the
// process alive. Shutdown() (the environment's cleanup hook) stops and joins every worker.
#ifndef ODXCP_WORKER_POOL_H_
#define ODXCP_WORKER_POOL_H_

#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace odxcp {

// One unit of work: Run() on a worker (no N-API calls there), then Complete() on the JS
// thread, or Abandon() when the environment goes away first (release resources without N-API).
// Run() is noexcept: it records failures as data for Complete(); only a failed allocation of a
// few bytes could throw there, and that ends the process either way.
class Job {
 public:
  virtual ~Job() = default;
  virtual void Run() noexcept = 0;
  virtual void Complete(Napi::Env env) = 0;
  virtual void Abandon() = 0;
};

struct PoolStats {
  uint32_t threads;
  uint32_t idle;
  uint32_t inFlight;
};

class WorkerPool {
 public:
  static constexpr size_t kMaxThreads = 128;
  static constexpr std::chrono::seconds kIdleExit{30};

  explicit WorkerPool(Napi::Env env);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // JS thread. Returns 0, or an errno value (and leaves `job` with the caller) when no thread
  // could be started to run it (EAGAIN from thread creation, ESHUTDOWN after Shutdown).
  int Submit(Napi::Env env, std::unique_ptr<Job>& job);
  // JS thread (cleanup hook). Idempotent. Blocks until running jobs finish their syscall.
  void Shutdown();
  PoolStats Stats();

 private:
  static void CallJs(Napi::Env env, Napi::Function callback, WorkerPool* pool, Job* job);
  using Tsfn = Napi::TypedThreadSafeFunction<WorkerPool, Job, &WorkerPool::CallJs>;

  int StartWorkerLocked();
  void WorkerMain(std::list<std::thread>::iterator self);
  void Deliver(std::unique_ptr<Job> job);
  void JoinExited();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::list<std::thread> threads_;   // live workers (each knows its own node)
  std::vector<std::thread> exited_;  // workers that left after idling, not yet joined
  size_t idle_ = 0;
  bool stopping_ = false;

  uint32_t inFlight_ = 0;  // JS thread only: submitted, not yet completed
  Tsfn tsfn_;
};

}  // namespace odxcp

#endif  // ODXCP_WORKER_POOL_H_
