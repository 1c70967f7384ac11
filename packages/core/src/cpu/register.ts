import { registerBackend } from '../backend/registry.js';
import { CpuBackend } from './cpu-backend.js';

/** The CPU reference backend registers itself with the lowest priority: every GPU beats it. */
export const CPU_PRIORITY = 0;
registerBackend('cpu', () => new CpuBackend(), CPU_PRIORITY);
