import { defineCommand } from '../args.js';
import { cliVersion } from '../version.js';

/**
 * `liger-mhc doctor`: what this machine can run. Every backend core knows of is initialised (its
 * package imported on demand) and reported with its device or the reason it cannot start; the
 * WebGPU adapter is described; @liger-mhc/cuda-native, where installed, reports its addon, driver,
 * devices and kernel path through cudaDoctor().
 */

/** The report of @liger-mhc/cuda-native's cudaDoctor() (declared here so the CLI builds without it). */
interface CudaDoctorReport {
  ok: boolean;
  reason: string | null;
  errorKind: string | null;
  addon: { path: string | null; source: string | null; packageName: string | null; version: string | null };
  driverVersion: string | null;
  runtimeVersion: string | null;
  devices: { index: number; name: string; computeCapability: string; memTotal: number }[];
  kernelPath: string | null;
  cublas: string | null;
}

interface BackendLine {
  name: string;
  package: string | null;
  ok: boolean;
  priority: number | null;
  device: string | null;
  software: boolean;
  error: string | null;
}

interface AdapterReport {
  description: string;
  vendor: string | null;
  architecture: string | null;
  device: string | null;
  features: string[];
  limits: Record<string, number>;
}

export interface DoctorReport {
  version: string;
  node: string;
  platform: string;
  backends: BackendLine[];
  webgpu: AdapterReport | null;
  cuda: CudaDoctorReport | { error: string };
  selected: { name: string | null; error: string | null };
}

export const doctor = defineCommand({
  name: 'doctor',
  summary: 'report which backends initialise here, the GPU, driver and CUDA addon',
  description: `Initialises every backend (cpu, webgpu, cuda) and prints its device or why it cannot
start, the WebGPU adapter, and the CUDA report: driver and runtime versions, devices and compute
capabilities, the addon's path and source (prebuilt package, source build or LIGER_MHC_CUDA_ADDON),
the kernel path chosen, or the reason CUDA is unavailable. Exits 0 when the report was made, even
where a GPU backend is unavailable.`,
  options: {
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  examples: ['liger-mhc doctor', 'liger-mhc doctor --json'],
  async run(v) {
    const report = await makeReport();
    process.stdout.write(v.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  },
});

async function makeReport(): Promise<DoctorReport> {
  const core = await import('@liger-mhc/core');
  const { loadBackendPackage } = await import('../backends.js');
  const backends: BackendLine[] = [];
  let webgpu: AdapterReport | null = null;
  const names = ['cpu', ...Object.keys(core.BACKEND_PACKAGES)];
  for (const name of names) {
    const line: BackendLine = {
      name,
      package: name === 'cpu' ? '@liger-mhc/core' : (core.BACKEND_PACKAGES[name] ?? null),
      ok: false,
      priority: null,
      device: null,
      software: false,
      error: null,
    };
    const loadError = await loadBackendPackage(name);
    try {
      const b = await core.initBackend(name);
      line.ok = true;
      line.device = b.capabilities.device;
      line.software = b.capabilities.software === true;
      if (name === 'webgpu') webgpu = describeAdapter(b);
    } catch (err) {
      line.error = loadError ?? (err as Error).message;
    }
    line.priority = core.registeredBackends().find((r) => r.name === name)?.priority ?? null;
    backends.push(line);
  }
  const selected: DoctorReport['selected'] = { name: null, error: null };
  try {
    selected.name = (await core.ready()).name;
  } catch (err) {
    selected.error = (err as Error).message;
  }
  const report: DoctorReport = {
    version: cliVersion(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    backends,
    webgpu,
    cuda: await cudaReport(),
    selected,
  };
  for (const b of backends) if (b.ok) core.disposeBackend(b.name);
  return report;
}

async function cudaReport(): Promise<DoctorReport['cuda']> {
  let mod: { cudaDoctor?: () => Promise<CudaDoctorReport> };
  try {
    mod = (await import('@liger-mhc/cuda-native')) as typeof mod;
  } catch (err) {
    return { error: `@liger-mhc/cuda-native is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  if (typeof mod.cudaDoctor !== 'function')
    return { error: 'this version of @liger-mhc/cuda-native has no cudaDoctor()' };
  try {
    return await mod.cudaDoctor();
  } catch (err) {
    return { error: `cudaDoctor() failed: ${(err as Error).message}` };
  }
}

/** The adapter behind an initialised WebGPU backend, read defensively (Dawn and browsers differ). */
function describeAdapter(backend: unknown): AdapterReport {
  const b = backend as {
    capabilities: { device: string };
    device?: { adapterInfo?: Record<string, unknown>; features?: Iterable<string> };
    limits?: Record<string, number>;
  };
  const info = b.device?.adapterInfo;
  const text = (k: string) =>
    info && typeof info[k] === 'string' && info[k] !== '' ? (info[k] as string) : null;
  return {
    description: text('description') ?? b.capabilities.device,
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    features: b.device?.features ? [...b.device.features].sort() : [],
    limits: { ...(b.limits ?? {}) },
  };
}

function formatReport(r: DoctorReport): string {
  const out: string[] = [`liger-mhc ${r.version}, Node ${r.node}, ${r.platform}`, '', 'backends'];
  const w = Math.max(...r.backends.map((b) => b.name.length)) + 2;
  for (const b of r.backends) {
    const what = b.ok ? `ok   ${b.device}${b.software ? ' (software emulation)' : ''}` : `no   ${b.error}`;
    out.push(`  ${b.name.padEnd(w)}${what}`);
  }
  out.push(
    r.selected.name
      ? `  selected: ${r.selected.name}`
      : `  selected: none (${r.selected.error ?? 'no backend initialised'})`,
  );
  if (r.webgpu) {
    const a = r.webgpu;
    out.push('', 'webgpu adapter');
    out.push(`  description   ${a.description}`);
    if (a.vendor) out.push(`  vendor        ${a.vendor}`);
    if (a.architecture) out.push(`  architecture  ${a.architecture}`);
    if (a.device) out.push(`  device        ${a.device}`);
    out.push(`  features      ${a.features.join(', ') || 'none'}`);
    out.push(
      `  limits        ${Object.entries(a.limits)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
  }
  out.push('', 'cuda');
  const c = r.cuda;
  if ('error' in c) out.push(`  ${c.error}`);
  else {
    const addon = c.addon.path
      ? `${c.addon.path} (${[c.addon.source, c.addon.packageName, c.addon.version].filter(Boolean).join(', ')})`
      : 'not found';
    out.push(
      `  status        ${c.ok ? 'ok' : `unavailable (${c.errorKind ?? 'unknown'}): ${c.reason ?? ''}`}`,
    );
    out.push(`  addon         ${addon}`);
    out.push(`  driver        ${c.driverVersion ?? 'none'}`);
    out.push(`  runtime       ${c.runtimeVersion ?? 'unknown'}`);
    if (c.devices.length === 0) out.push('  devices       none');
    for (const d of c.devices)
      out.push(
        `  device ${d.index}      ${d.name}, compute capability ${d.computeCapability}, ${(d.memTotal / 2 ** 30).toFixed(1)} GiB`,
      );
    out.push(`  kernel path   ${c.kernelPath ?? 'none'}`);
    out.push(`  cuBLAS        ${c.cublas ?? 'not loaded'}`);
  }
  return `${out.join('\n')}\n`;
}
