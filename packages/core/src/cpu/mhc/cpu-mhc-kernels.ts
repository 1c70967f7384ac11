// PLACEHOLDER: being written (CPU mHC kernels).
import type { MhcKernels } from '../../backend/mhc-kernels.js';
import { unsupported } from '../../backend/unsupported.js';
import type { CpuBackend } from '../cpu-backend.js';

export class CpuMhcKernels implements MhcKernels {
  constructor(readonly cpu: CpuBackend) {}
  coeffsForward = unsupported('coeffsForward', 'cpu');
  coeffsBackward = unsupported('coeffsBackward', 'cpu');
  preForward = unsupported('preForward', 'cpu');
  preBackward = unsupported('preBackward', 'cpu');
  postResForward = unsupported('postResForward', 'cpu');
  postResBackward = unsupported('postResBackward', 'cpu');
}
