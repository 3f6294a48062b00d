#include "rlft/core/thread_pool.h"

#include <algorithm>

namespace rlft {

namespace {
// Chunk c of k over [0, n): contiguous and balanced.
void ChunkBounds(int64_t n, int64_t chunks, int64_t c, int64_t* begin, int64_t* end) {
  *begin = n * c / chunks;
  *end = n * (c + 1) / chunks;
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  // The calling thread takes chunk 0, so the pool starts num_threads - 1 workers.
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                             int64_t min_chunk) {
  if (n <= 0) return;
  const int64_t chunks =
      std::min<int64_t>(num_threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &fn;
    task_n_ = n;
    task_chunks_ = chunks;
    pending_ = static_cast<int>(chunks - 1);
    ++generation_;
  }
  work_ready_.notify_all();
  int64_t begin = 0;
  int64_t end = 0;
  ChunkBounds(n, chunks, 0, &begin, &end);
  fn(begin, end);
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return pending_ == 0; });
  task_ = nullptr;
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen_generation = 0;
  while (true) {
    const std::function<void(int64_t, int64_t)>* task = nullptr;
    int64_t n = 0;
    int64_t chunks = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
      if (worker_index >= task_chunks_) continue;  // fewer chunks than workers this round
      task = task_;
      n = task_n_;
      chunks = task_chunks_;
    }
    int64_t begin = 0;
    int64_t end = 0;
    ChunkBounds(n, chunks, worker_index, &begin, &end);
    (*task)(begin, end);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
    }
    work_done_.notify_one();
  }
}

}  // namespace rlft
