// Which machine code of the addon the driver loaded for a device. The prebuilt addon carries SASS for
// a list of architectures plus PTX for newer ones; a card outside that list (or before sm_80) has no
// usable image, and the cluster kernels exist only in the sm_90+ images.
#pragma once
#include <cuda_runtime.h>

namespace lmhc {

/**
 * The architecture (major * 10 + minor) of the code loaded for the current device, from a trivial
 * kernel compiled for every target of the build; on failure (cudaErrorNoKernelImageForDevice where
 * the build has no code for the card) the CUDA error, with *version = 0.
 */
cudaError_t loadedArch(int* version);

/** Whether coeffs_pre's cluster kernel was compiled with its body for the current device (sm_90+). */
bool coeffsPreKernelBuilt();

}  // namespace lmhc
