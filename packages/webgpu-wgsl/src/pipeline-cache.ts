import { ArgumentError } from '@liger-mhc/core';
import type { ParamLayout, ParamSchema } from './kernel-params.js';
import { type Buf, header } from './kernels/wgsl-lib.js';
import { SLOT_BYTES } from './param-arenas.js';

/**
 * A compiled kernel: WGSL text, its parameters and storage bindings, and the cache key of its
 * specialisation.
 */
export interface KernelDef<S extends ParamSchema = ParamSchema> {
  key: string;
  /** The kernel's named parameters (binding 0; the body reads `params.<name>`). */
  params: ParamLayout<S>;
  bufs: readonly Buf[];
  /** WGSL after the shared header (entry point `main`). */
  body: string;
  /** Global directives (`enable ...;`, `diagnostic(...);`): WGSL wants them before any declaration. */
  directives?: string;
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * Compute pipelines by KernelDef key: each specialisation is compiled once per device (shader
 * compilation costs far more than a dispatch). Binding 0 is the dispatch's parameter block, the
 * storage buffers follow in `bufs` order.
 */
export class PipelineCache {
  private pipelines = new Map<string, CachedPipeline>();

  constructor(
    private readonly device: GPUDevice,
    /** Log each compilation's time (the LIGER_MHC_WEBGPU_TRACE flag). */
    private readonly trace: boolean,
  ) {}

  get(def: KernelDef<ParamSchema>): CachedPipeline {
    let p = this.pipelines.get(def.key);
    if (p) return p;
    // Every dispatch's parameters live in one fixed-size slot of a shared uniform arena.
    if (def.params.size > SLOT_BYTES)
      throw new ArgumentError(
        'def.params',
        `${def.key}: parameters of ${def.params.size} bytes do not fit a ${SLOT_BYTES}-byte slot`,
      );
    const layout = this.device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform' } },
        ...def.bufs.map((b, i) => ({
          binding: i + 1,
          visibility: 4,
          buffer: { type: b.access === 'rw' ? ('storage' as const) : ('read-only-storage' as const) },
        })),
      ],
    });
    const code = (def.directives ?? '') + header(def.params, def.bufs) + def.body;
    const trace = this.trace;
    const t0 = trace ? performance.now() : 0;
    const module = this.device.createShaderModule({ code, label: def.key });
    const pipeline = this.device.createComputePipeline({
      label: def.key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    if (trace) console.log(`[webgpu] pipeline ${def.key}: ${(performance.now() - t0).toFixed(0)} ms`);
    p = { pipeline, layout };
    this.pipelines.set(def.key, p);
    return p;
  }
}
