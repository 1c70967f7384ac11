import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { BackendError } from '@liger-mhc/core';
import { setNodeGpuProvider } from './device.js';

/**
 * Node's GPU: the `webgpu` npm package (Dawn), an optional peer dependency loaded on first use.
 * Only the package's Node entry imports this module, so browser bundles never see it.
 *
 * Dawn's Node binding crashes the process when the object returned by `create()` is garbage
 * collected while devices made from it are alive, so the instance is created once per process and
 * pinned in module scope for the life of the process (devices hold no reference back to it).
 */
let nodeGpu: GPU | null = null;
const pinned: unknown[] = [];

async function dawnGpu(flags: readonly string[]): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = (await import('webgpu')) as never;
  } catch (err) {
    throw new BackendError(
      `webgpu: the 'webgpu' package (Dawn for Node) could not be loaded (install it beside @liger-mhc/webgpu-wgsl: npm install webgpu): ${(err as Error).message.split('\n')[0]}`,
    );
  }
  // Dawn's constant objects (GPUBufferUsage, ...) are set once so code that expects the browser
  // globals also works; existing ones (a polyfill, a second copy) are kept.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  // vulkan_enable_f16_on_nvidia: Dawn hides shader-f16 on NVIDIA's Vulkan driver unless asked; the
  // toggle is read only on that driver, so passing it everywhere is harmless. Timestamp
  // quantisation (a fingerprinting guard for browsers) would blur the benchmark's GPU times.
  const enable = ['vulkan_enable_f16_on_nvidia'];
  const disable = ['timestamp_quantization'];
  const extra: string[] = [];
  for (const f of flags) {
    const m = /^(enable|disable)-dawn-features=(.*)$/.exec(f);
    if (m) (m[1] === 'enable' ? enable : disable).push(...m[2]!.split(',').filter(Boolean));
    else extra.push(f);
  }
  const gpu = mod.create([
    `enable-dawn-features=${enable.join(',')}`,
    `disable-dawn-features=${disable.join(',')}`,
    ...extra,
  ]);
  nodeGpu = gpu;
  pinned.push(gpu, mod);
  return gpu;
}

/** Vulkan drivers that emulate a GPU on the CPU (Mesa lavapipe, SwiftShader). */
const SOFTWARE_ICD = /lvp|swiftshader/i;

/**
 * The Vulkan loader's driver manifests (its documented search: VK_DRIVER_FILES or VK_ICD_FILENAMES
 * replace the search, VK_ADD_DRIVER_FILES adds to it; else icd.d under the XDG config and data
 * directories and /etc).
 */
function vulkanManifests(): string[] {
  const env = process.env;
  const list = (v: string | undefined) => (v ? v.split(':').filter(Boolean) : []);
  const expand = (paths: string[]) =>
    paths.flatMap((p) => {
      try {
        return statSync(p).isDirectory()
          ? readdirSync(p)
              .filter((f) => f.endsWith('.json'))
              .map((f) => join(p, f))
          : [p];
      } catch {
        return [];
      }
    });
  const explicit = list(env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES);
  if (explicit.length) return expand([...explicit, ...list(env.VK_ADD_DRIVER_FILES)]);
  const config = list(env.XDG_CONFIG_DIRS || '/etc/xdg');
  const data = [
    env.XDG_DATA_HOME || join(homedir(), '.local', 'share'),
    ...list(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share'),
  ];
  const dirs = [...config, '/etc', ...data].map((d) => join(d, 'vulkan', 'icd.d'));
  return expand([...dirs, ...list(env.VK_ADD_DRIVER_FILES)]);
}

/** The driver library a manifest names ('' where it cannot be read). */
function manifestLibrary(path: string): string {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as {
      ICD?: { library_path?: string };
      ICDs?: { library_path?: string }[];
    };
    return m.ICD?.library_path ?? m.ICDs?.[0]?.library_path ?? '';
  } catch {
    return '';
  }
}

/**
 * On Linux, decided from files alone: a hardware Vulkan driver needs a GPU device node (a DRM
 * render node, NVIDIA's /dev/nvidia*, WSL's /dev/dxg). Without one only a software driver can give
 * an adapter; with no driver at all there is none. Loading Dawn to find that out prints the Vulkan
 * loader's warnings, which a run that ends on the CPU should not show. Elsewhere: 'unknown'.
 */
async function probe(): Promise<'none' | 'software' | 'hardware' | 'unknown'> {
  if (process.platform !== 'linux') return 'unknown';
  const libraries = vulkanManifests().map(manifestLibrary).filter(Boolean);
  if (libraries.length === 0) return 'none';
  const gpuNodes =
    existsSync('/dev/dxg') ||
    existsSync('/dev/nvidiactl') ||
    (existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD')));
  if (gpuNodes && libraries.some((l) => !SOFTWARE_ICD.test(basename(l)))) return 'unknown';
  return libraries.some((l) => SOFTWARE_ICD.test(basename(l))) ? 'software' : 'none';
}

setNodeGpuProvider({ gpu: dawnGpu, probe });
