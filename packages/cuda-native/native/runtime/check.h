// Error checking shared by the runtime and every kernel file. Each CUDA call and launch goes through
// CK/CK_LAUNCH so a failure becomes a C++ exception carrying the CUDA error text; addon.cc turns it
// into a JS exception.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace lmhc {

/** A failed CUDA call. `oom` marks allocation failures, which the allocator can recover from. */
struct CudaError : std::runtime_error {
  cudaError_t code;
  CudaError(const std::string& what, cudaError_t c) : std::runtime_error(what), code(c) {}
};

/** A bad argument found on the native side (sizes, dtypes): never a CUDA failure. */
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** The device cannot run this build of the addon (compute capability, or no code for its architecture). */
struct UnsupportedDeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* what) {
  throw CudaError(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" +
                      cudaGetErrorString(e) + ")",
                  e);
}

}  // namespace lmhc

#define CK(call)                                      \
  do {                                                \
    cudaError_t ck_err_ = (call);                     \
    if (ck_err_ != cudaSuccess) {                     \
      (void)cudaGetLastError();                       \
      ::lmhc::throw_cuda(ck_err_, #call);             \
    }                                                 \
  } while (0)

// After a <<<...>>> launch: launch-configuration errors are reported here, asynchronous faults at
// the next synchronising call (read/sync), which checks as well.
#define CK_LAUNCH(name)                               \
  do {                                                \
    cudaError_t ck_err_ = cudaGetLastError();         \
    if (ck_err_ != cudaSuccess) ::lmhc::throw_cuda(ck_err_, "launch of " name); \
  } while (0)
