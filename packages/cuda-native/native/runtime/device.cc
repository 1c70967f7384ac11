#include "device.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../kernels/launch_params.h"
#include "arch.h"
#include "ops.h"

namespace lmhc {

std::unordered_map<std::string, OpFn>& opTable() {
  static std::unordered_map<std::string, OpFn> table;
  return table;
}

// ---- Allocator -----------------------------------------------------------------------------------

size_t Allocator::roundUp(size_t bytes) {
  // Small blocks in 512-byte steps, large ones in 2 MiB steps: few distinct sizes, so the pool hits
  // often, with at most 2 MiB of slack per large tensor.
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

void* Allocator::alloc(size_t bytes, size_t* blockBytes) {
  const size_t want = roundUp(bytes);
  auto it = free_.lower_bound(want);
  // Accept a pooled block up to 25% larger than needed; larger ones stay for larger requests.
  if (it != free_.end() && it->first <= want + want / 4) {
    void* p = it->second;
    *blockBytes = it->first;
    s_.pooledBytes -= it->first;
    s_.pooledBuffers--;
    free_.erase(it);
    s_.liveBytes += bytes;
    s_.liveBuffers++;
    if (s_.liveBytes > s_.peakBytes) s_.peakBytes = s_.liveBytes;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, want);
  if (e == cudaErrorMemoryAllocation) {
    // Out of memory is recoverable: drop what the pool holds and try once more.
    (void)cudaGetLastError();
    emptyCache();
    e = cudaMalloc(&p, want);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw CudaError("CUDA out of memory: could not allocate " + std::to_string(want) + " bytes (" +
                          std::to_string(s_.liveBytes) + " bytes live in " +
                          std::to_string(s_.liveBuffers) + " buffers; cache emptied): " +
                          cudaGetErrorString(e),
                      e);
    }
  }
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw_cuda(e, "cudaMalloc");
  }
  *blockBytes = want;
  s_.reservedBytes += want;
  if (s_.reservedBytes > s_.peakReservedBytes) s_.peakReservedBytes = s_.reservedBytes;
  s_.liveBytes += bytes;
  s_.liveBuffers++;
  if (s_.liveBytes > s_.peakBytes) s_.peakBytes = s_.liveBytes;
  return p;
}

void Allocator::release(void* p, size_t blockBytes, size_t bytes) {
  if (!p) return;
  s_.liveBytes -= bytes;
  s_.liveBuffers--;
  if (closed_) {
    cudaFree(p);
    s_.reservedBytes -= blockBytes;
    return;
  }
  free_.emplace(blockBytes, p);
  s_.pooledBytes += blockBytes;
  s_.pooledBuffers++;
}

void Allocator::emptyCache() {
  // cudaFree waits for the device, so blocks still read by queued kernels are not pulled from under them.
  for (auto& [sz, p] : free_) {
    cudaFree(p);
    s_.reservedBytes -= sz;
  }
  free_.clear();
  s_.pooledBytes = 0;
  s_.pooledBuffers = 0;
}

void Allocator::close() {
  emptyCache();
  closed_ = true;
}

// ---- PinnedPool ----------------------------------------------------------------------------------

void* PinnedPool::get(size_t bytes, size_t* blockBytes) {
  reclaim();
  const size_t want = Allocator::roundUp(bytes);
  auto it = free_.lower_bound(want);
  if (it != free_.end() && it->first <= 2 * want) {
    void* p = it->second;
    *blockBytes = it->first;
    free_.erase(it);
    return p;
  }
  void* p = nullptr;
  CK(cudaMallocHost(&p, want));
  *blockBytes = want;
  return p;
}

void PinnedPool::put(void* p, size_t blockBytes) { free_.emplace(blockBytes, p); }

void PinnedPool::putAfter(void* p, size_t blockBytes, cudaEvent_t ev) {
  pending_.push_back({p, blockBytes, ev});
}

void PinnedPool::reclaim() {
  for (size_t i = 0; i < pending_.size();) {
    if (cudaEventQuery(pending_[i].ev) == cudaSuccess) {
      cudaEventDestroy(pending_[i].ev);
      free_.emplace(pending_[i].bytes, pending_[i].p);
      pending_[i] = pending_.back();
      pending_.pop_back();
    } else {
      (void)cudaGetLastError();  // cudaErrorNotReady is not an error here
      i++;
    }
  }
}

void PinnedPool::close() {
  for (auto& pd : pending_) {
    cudaEventSynchronize(pd.ev);
    cudaEventDestroy(pd.ev);
    cudaFreeHost(pd.p);
  }
  pending_.clear();
  for (auto& [sz, p] : free_) cudaFreeHost(p);
  free_.clear();
}

// ---- OpTimer ------------------------------------------------------------------------------------

OpTimer::~OpTimer() {
  if (on_ && marks_.size() > 1) {
    cudaEventSynchronize(marks_.back().second);
    std::string line = std::string("[profile] ") + op_ + ":";
    for (size_t i = 1; i < marks_.size(); i++) {
      float ms = 0.f;
      cudaEventElapsedTime(&ms, marks_[i - 1].second, marks_[i].second);
      line += " " + std::string(marks_[i].first) + " " + std::to_string(ms * 1000.f).substr(0, 7) + " us;";
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  for (auto& m : marks_) cudaEventDestroy(m.second);
}

// ---- Device --------------------------------------------------------------------------------------

Device::Device(int id_) : id(id_) {
  CK(cudaSetDevice(id));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, id));
  sms = prop.multiProcessorCount;
  ccMajor = prop.major;
  ccMinor = prop.minor;
  memTotal = prop.totalGlobalMem;
  name = prop.name;
  if (ccMajor < 8)
    throw UnsupportedDeviceError("device " + std::to_string(id) + " (" + name + ") has compute capability " +
                                 std::to_string(ccMajor) + "." + std::to_string(ccMinor) +
                                 " < 8.0: the CUDA backend needs an Ampere (sm_80) or newer card");
  const cudaError_t img = lmhc::loadedArch(&loadedArch);
  if (img != cudaSuccess) {
    if (img == cudaErrorNoKernelImageForDevice || img == cudaErrorInvalidDeviceFunction ||
        img == cudaErrorUnsupportedPtxVersion)
      throw UnsupportedDeviceError("this build of the addon has no code for device " + std::to_string(id) + " (" +
                                   name + ", sm_" + std::to_string(ccMajor * 10 + ccMinor) + "; built for " +
                                   LMHC_CUDA_ARCHS + "): " + cudaGetErrorName(img) +
                                   "; build it from source for this card with a CUDA toolkit that knows it");
    throw_cuda(img, "cudaFuncGetAttributes (loading the addon's kernels)");
  }
  int cl = 0;
  if (cudaDeviceGetAttribute(&cl, cudaDevAttrClusterLaunch, id) != cudaSuccess) {
    (void)cudaGetLastError();
    cl = 0;
  }
  clusterLaunch = cl != 0;
  clusterKernels = clusterLaunch && coeffsPreKernelBuilt();
  // A non-blocking stream: no implicit synchronisation with the legacy default stream, which other
  // libraries in the process may use.
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const char* nm = std::getenv("LIGER_MHC_CUDA_NO_MMA");
  noMma = nm && nm[0] == '1';
  const char* pr = std::getenv("LIGER_MHC_CUDA_PROFILE");
  profile = pr && pr[0] == '1';
  loadBlas();
}

Device::~Device() {
  if (!disposed) dispose();
}

void Device::dispose() {
  if (disposed) return;
  disposed = true;
  cudaSetDevice(id);
  cudaStreamSynchronize(stream);
  if (blas.handle) blas.destroy(blas.handle);
  blas.handle = nullptr;
  if (blas.workspace) cudaFree(blas.workspace);
  blas.workspace = nullptr;
  alloc.close();
  pinned.close();
  cudaStreamDestroy(stream);
  stream = nullptr;
}

void Device::loadBlas() {
  // cuBLAS is large (static: >100 MB) and not on every machine that has nvcc, so it is opened at run
  // time; without it matmul falls back to the built-in tiled kernel (kernels/generic/matmul.cu).
  std::vector<std::string> names;
  if (const char* env = std::getenv("LIGER_MHC_CUBLAS")) names.emplace_back(env);
  names.emplace_back("libcublas.so.13");
  names.emplace_back("libcublas.so.12");
  names.emplace_back("libcublas.so");
  for (auto& n : names) {
    blas.lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (blas.lib) break;
    const char* err = dlerror();
    blas.loadError = err ? err : ("cannot open " + n);
  }
  if (!blas.lib) return;
  auto sym = [&](const char* s) { return dlsym(blas.lib, s); };
  blas.create = reinterpret_cast<decltype(blas.create)>(sym("cublasCreate_v2"));
  blas.destroy = reinterpret_cast<decltype(blas.destroy)>(sym("cublasDestroy_v2"));
  blas.setStream = reinterpret_cast<decltype(blas.setStream)>(sym("cublasSetStream_v2"));
  blas.setWorkspace = reinterpret_cast<decltype(blas.setWorkspace)>(sym("cublasSetWorkspace_v2"));
  blas.getVersion = reinterpret_cast<decltype(blas.getVersion)>(sym("cublasGetVersion_v2"));
  blas.gemmStridedBatchedEx =
      reinterpret_cast<decltype(blas.gemmStridedBatchedEx)>(sym("cublasGemmStridedBatchedEx"));
  if (!blas.create || !blas.destroy || !blas.setStream || !blas.gemmStridedBatchedEx) {
    blas.loadError = "cuBLAS entry points missing";
    return;
  }
  if (blas.create(&blas.handle) != 0) {
    blas.handle = nullptr;
    blas.loadError = "cublasCreate failed";
    return;
  }
  blas.setStream(blas.handle, stream);
  // A fixed workspace of our own: cuBLAS then picks the same algorithms run to run on one stream,
  // which keeps matmul results bit-identical.
  if (blas.setWorkspace) {
    const size_t ws = size_t(32) << 20;
    if (cudaMalloc(&blas.workspace, ws) == cudaSuccess) blas.setWorkspace(blas.handle, blas.workspace, ws);
    else (void)cudaGetLastError();
  }
  int v = 0;
  if (blas.getVersion && blas.getVersion(blas.handle, &v) == 0)
    blas.version = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." +
                   std::to_string(v % 100);
}

}  // namespace lmhc

namespace lmhc {

// bufs: src, dst; params: CopyD2dLaunch. A plain device-to-device copy: the benchmarks' copy roofline.
LMHC_OP(copy_d2d) {
  const size_t bytes = static_cast<size_t>(CopyD2dLaunch::read(a).bytes);
  void* dst = a.buf(1, bytes);
  const void* src = a.buf(0, bytes);
  CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, a.dev.stream));
}

}  // namespace lmhc
