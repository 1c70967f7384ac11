// The per-backend device state: one stream, a caching allocator, a pinned staging pool and the
// (optionally loaded) cuBLAS handle. JS owns a Device through DeviceObj (addon.cc); every buffer
// keeps a shared_ptr to it, so buffers finalised after the backend was disposed still free safely.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "check.h"

namespace lmhc {

struct MemStats {
  size_t liveBuffers = 0, liveBytes = 0, pooledBuffers = 0, pooledBytes = 0, peakBytes = 0;
  size_t reservedBytes = 0, peakReservedBytes = 0;
};

/**
 * A caching allocator. Blocks freed by tensors go to a size-keyed pool and are handed out again
 * without cudaMalloc/cudaFree (both synchronise the device). Reuse is safe without events because
 * every kernel of a backend runs on its one stream: a block freed after kernel A and reused by
 * kernel B is only touched by B after A finished, in stream order.
 */
class Allocator {
 public:
  void* alloc(size_t bytes, size_t* blockBytes);
  void release(void* p, size_t blockBytes, size_t bytes);
  /** Give every pooled block back to the driver. */
  void emptyCache();
  void close();
  MemStats stats() const { return s_; }
  void resetPeak() {
    s_.peakBytes = s_.liveBytes;
    s_.peakReservedBytes = s_.reservedBytes;
  }
  static size_t roundUp(size_t bytes);

 private:
  std::multimap<size_t, void*> free_;
  MemStats s_;
  bool closed_ = false;
};

/** Page-locked host staging for uploads and readbacks, reused once the copies that use it are done. */
class PinnedPool {
 public:
  void* get(size_t bytes, size_t* blockBytes);
  void put(void* p, size_t blockBytes);
  /** Return `p` to the pool once `ev` (recorded after the copy that reads it) has completed. */
  void putAfter(void* p, size_t blockBytes, cudaEvent_t ev);
  void reclaim();
  void close();

 private:
  struct Pending {
    void* p;
    size_t bytes;
    cudaEvent_t ev;
  };
  std::multimap<size_t, void*> free_;
  std::vector<Pending> pending_;
};

/** cuBLAS, loaded at run time (dlopen) so the addon builds and loads where cuBLAS is absent. */
struct Blas {
  void* lib = nullptr;
  void* handle = nullptr;
  void* workspace = nullptr;
  std::string version;
  std::string loadError;
  // Signatures of the few entry points we call (cuBLAS v2 ABI; enums passed as int).
  int (*create)(void**) = nullptr;
  int (*destroy)(void*) = nullptr;
  int (*setStream)(void*, cudaStream_t) = nullptr;
  int (*setWorkspace)(void*, void*, size_t) = nullptr;
  int (*getVersion)(void*, int*) = nullptr;
  int (*gemmStridedBatchedEx)(void*, int, int, int, int, int, const void*, const void*, int, int,
                              long long, const void*, int, int, long long, const void*, void*, int, int,
                              long long, int, int, int) = nullptr;
  bool ok() const { return handle != nullptr; }
};

class Device {
 public:
  explicit Device(int id);
  ~Device();
  void dispose();

  int id;
  int sms = 0;
  int ccMajor = 0, ccMinor = 0;
  size_t memTotal = 0;
  std::string name;
  cudaStream_t stream = nullptr;
  Allocator alloc;
  PinnedPool pinned;
  Blas blas;
  bool disposed = false;
  /** Architecture of the addon code the driver loaded for this device (e.g. 80 for sm_80 SASS on an
   * sm_86 card, 120 for PTX compiled at load). */
  int loadedArch = 0;
  /** The device can launch thread-block clusters (cudaDevAttrClusterLaunch). */
  bool clusterLaunch = false;
  /** The cluster kernels (coeffs_pre.cu) have their body in the code loaded for this device. */
  bool clusterKernels = false;
  /** Set LIGER_MHC_CUDA_NO_MMA=1 to force the CUDA-core coeffs forward (tests compare both paths). */
  bool noMma = false;
  /** LIGER_MHC_CUDA_PROFILE=1: ops with an OpTimer print per-kernel times to stderr (synchronising). */
  bool profile = false;

 private:
  void loadBlas();
};

/** A device block borrowed for the duration of one op (stream-ordered, so returning it at once is safe). */
class Temp {
 public:
  Temp(Device& d, size_t bytes) : d_(d), bytes_(bytes) { p_ = d.alloc.alloc(bytes ? bytes : 1, &block_); }
  ~Temp() { d_.alloc.release(p_, block_, bytes_ ? bytes_ : 1); }
  Temp(const Temp&) = delete;
  Temp& operator=(const Temp&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  Device& d_;
  void* p_;
  size_t block_ = 0, bytes_;
};

/** Per-kernel timing inside one op, for profiling runs only (it synchronises the stream). */
class OpTimer {
 public:
  OpTimer(Device& d, const char* op) : d_(d), op_(op), on_(d.profile) { mark("start"); }
  void mark(const char* what) {
    if (!on_) return;
    cudaEvent_t ev;
    if (cudaEventCreate(&ev) != cudaSuccess || cudaEventRecord(ev, d_.stream) != cudaSuccess) {
      (void)cudaGetLastError();
      on_ = false;
      return;
    }
    marks_.emplace_back(what, ev);
  }
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  Device& d_;
  const char* op_;
  bool on_;
  std::vector<std::pair<const char*, cudaEvent_t>> marks_;
};

}  // namespace lmhc
