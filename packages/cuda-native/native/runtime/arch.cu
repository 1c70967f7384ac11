#include "arch.h"

namespace lmhc {
namespace {

__global__ void archProbe() {}

}  // namespace

cudaError_t loadedArch(int* version) {
  cudaFuncAttributes attr{};
  const cudaError_t e = cudaFuncGetAttributes(&attr, archProbe);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    *version = 0;
    return e;
  }
  *version = attr.binaryVersion;
  return cudaSuccess;
}

}  // namespace lmhc
