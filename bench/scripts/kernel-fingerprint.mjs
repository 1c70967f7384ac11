#!/usr/bin/env node
/**
 * Kernel fingerprint: the text of every production kernel, so a refactor can be shown to leave the
 * kernels unchanged by diffing two dumps.
 *
 *   node bench/scripts/kernel-fingerprint.mjs --out DIR [--root REPO] [--skip-wgsl] [--skip-cuda]
 *   node bench/scripts/kernel-fingerprint.mjs --compare DIR_BEFORE DIR_AFTER [--unstable DIR_BEFORE_AGAIN]
 *        [--unstable-after DIR_AFTER_AGAIN]
 *
 * --compare matches WGSL kernels by their text (a kernel whose cache key was renamed but whose
 * source is the same counts as unchanged) and CUDA kernels by their mangled name, and lists every
 * kernel that was removed, added or changed; it exits 1 when any was. ptxas does not always emit the
 * same machine code for the same source (a few large coeffsBwdX instantiations differ between two
 * builds of one tree), so --unstable takes a second dump of the before tree (and --unstable-after one
 * of the after tree): a CUDA kernel whose code differs between two dumps of the same tree is listed
 * as unstable, not as changed.
 *
 * WGSL: drives the WebGPU backend (built packages under REPO/packages/*\/dist, any adapter, e.g.
 * lavapipe) through the conformance kit's golden cases and a matrix of layer shapes and dtypes that
 * reaches every coeffs path rule (token count, K, dtype, hc), forward and backward. Dispatches are
 * recorded, not run, so no kernel is compiled; each kernel's complete WGSL source (directives,
 * bindings, body) goes to DIR/wgsl/<key>.wgsl. Specialisations depend on the adapter's features, so
 * compare dumps made on the same machine.
 *
 * CUDA: compiles every kernel file under REPO/packages/cuda-native/native/kernels for sm_90 with the
 * addon's flags and writes one file per kernel (entry point) to DIR/cuda/<name>.sass from
 * `cuobjdump -sass` when the toolkit has it, else DIR/cuda/<name>.ptx with debug-location lines
 * removed (same PTX and ptxas options give the same machine code), or with --cubin DIR/cuda/<name>.text:
 * the bytes of the kernel's `.text` section of the cubin (its machine code, without cuobjdump; symbol
 * numbers live in other sections, so removing a kernel does not change the others'). Per-kernel files make the dump
 * independent of which source file holds a kernel.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compare: { type: 'boolean', default: false },
    out: { type: 'string' },
    root: { type: 'string', default: process.cwd() },
    'skip-wgsl': { type: 'boolean', default: false },
    'skip-cuda': { type: 'boolean', default: false },
    cubin: { type: 'boolean', default: false },
    nvcc: { type: 'string', default: process.env.NVCC ?? 'nvcc' },
    unstable: { type: 'string' },
    'unstable-after': { type: 'string' },
  },
});
if (opts.compare)
  process.exit(compare(positionals[0], positionals[1], opts.unstable, opts['unstable-after']));
if (!opts.out) {
  console.error('usage: kernel-fingerprint.mjs --out DIR [--root REPO] [--skip-wgsl] [--skip-cuda]');
  process.exit(2);
}
const root = resolve(opts.root);
const out = resolve(opts.out);
mkdirSync(out, { recursive: true });

function compare(a, b, again, againAfter) {
  if (!a || !b) {
    console.error('usage: kernel-fingerprint.mjs --compare DIR_BEFORE DIR_AFTER');
    return 2;
  }
  const list = (d, sub) => {
    try {
      return readdirSync(join(d, sub)).map((f) => ({ f, text: readFileSync(join(d, sub, f), 'utf8') }));
    } catch {
      return [];
    }
  };
  let changed = 0;
  // WGSL: by text (the bindings line and body), so renamed cache keys do not count.
  const wa = list(a, 'wgsl');
  const wb = list(b, 'wgsl');
  const textsB = new Set(wb.map((k) => k.text));
  const textsA = new Set(wa.map((k) => k.text));
  // A kernel whose only change is named parameters (a `struct Params` read as `params.x` where
  // the dump before read the shared 64-word block by index) is listed as such: rewritten back to the
  // index reads its struct's layout gives, its text must equal the one before under the same key.
  const beforeByKey = new Map(wa.map((k) => [k.f, k.text]));
  const afterByKey = new Map(wb.map((k) => [k.f, k.text]));
  const paramsOnly = new Set();
  for (const k of wb) {
    const prev = beforeByKey.get(k.f);
    if (prev !== undefined && !textsA.has(k.text) && positionalParams(k.text) === prev) paramsOnly.add(k.f);
  }
  for (const k of wa)
    if (!textsB.has(k.text) && !paramsOnly.has(k.f)) {
      changed++;
      console.log(
        `wgsl removed or changed: ${k.f}${afterByKey.has(k.f) ? '' : ' (no kernel of this key after)'}`,
      );
    }
  for (const k of wb)
    if (!textsA.has(k.text)) {
      changed++;
      console.log(
        paramsOnly.has(k.f) ? `wgsl named parameters only: ${k.f}` : `wgsl added or changed: ${k.f}`,
      );
    }
  if (paramsOnly.size) console.log(`wgsl: ${paramsOnly.size} differ by named parameters only`);
  const renamed = wb.filter((k) => textsA.has(k.text) && !wa.some((x) => x.f === k.f)).length;
  console.log(`wgsl: ${wa.length} before, ${wb.length} after, ${renamed} same text under a new key`);
  // CUDA: by kernel name. A kernel that lost a template parameter gets a new mangled name; when an
  // added kernel's code equals a removed one's with the names swapped, it is reported as renamed.
  const ca = new Map(list(a, 'cuda').map((k) => [k.f, ptxOrder(k.text)]));
  const cb = new Map(list(b, 'cuda').map((k) => [k.f, ptxOrder(k.text)]));
  const repeat = (d, first) => {
    if (!d) return [];
    const m = new Map(list(d, 'cuda').map((k) => [k.f, ptxOrder(k.text)]));
    return [...first].filter(([f, t]) => m.get(f) !== t).map(([f]) => f);
  };
  const unstable = new Set([...repeat(again, ca), ...repeat(againAfter, cb)]);
  const entryName = (f) => f.replace(/\.(ptx|sass|text)$/, '');
  const renamedFrom = new Map();
  for (const [f, t] of cb) {
    if (ca.has(f)) continue;
    for (const [g, u] of ca)
      if (!cb.has(g) && !renamedFrom.has(g) && u.split(entryName(g)).join(entryName(f)) === t) {
        renamedFrom.set(g, f);
        break;
      }
  }
  for (const [f, t] of ca) {
    if (renamedFrom.has(f)) console.log(`cuda renamed, same code: ${f} -> ${renamedFrom.get(f)}`);
    else if (!cb.has(f)) {
      console.log(`cuda removed: ${f}`);
      changed++;
    } else if (cb.get(f) !== t) {
      if (unstable.has(f)) console.log(`cuda unstable (differs between two builds of the same source): ${f}`);
      else {
        console.log(`cuda changed: ${f}`);
        changed++;
      }
    }
  }
  const renamedTo = new Set(renamedFrom.values());
  for (const f of cb.keys())
    if (!ca.has(f) && !renamedTo.has(f)) {
      changed++;
      console.log(`cuda added: ${f}`);
    }
  console.log(`cuda: ${ca.size} before, ${cb.size} after, ${renamedFrom.size} renamed with the same code`);
  if (again || againAfter) console.log(`cuda: ${unstable.size} differ between two builds of one tree`);
  console.log(changed === 0 ? 'identical' : `${changed} differences`);
  return changed === 0 ? 0 : 1;
}

/**
 * A dumped kernel with named parameters rewritten to the positional form kernels used before them:
 * the `// params:` block (struct Params, its binding and array accessors) removed and each
 * `params.name` read replaced by pu/pf/pi(<word>u) at the word WGSL's uniform layout gives the field
 * (scalars 4 bytes; arrays of n scalars as array<vec4<T>, ceil(n/4)>, 16-byte aligned). Array
 * accessors `params_name(i)` stay as they are (the old text indexed by arithmetic on the word).
 */
function positionalParams(text) {
  const m =
    /\/\/ params:\nstruct Params \{\n([\s\S]*?)\}\n@group\(0\) @binding\(0\) var<uniform> params: Params;\n((?:fn params_[^\n]*\n)*)/.exec(
      text,
    );
  if (!m) return text;
  const fields = new Map();
  let end = 0;
  for (const line of m[1].split('\n')) {
    const f = /^\s*(\w+): (u32|i32|f32|array<vec4<(u32|i32|f32)>, (\d+)>),$/.exec(line);
    if (!f) continue;
    const array = f[3] !== undefined;
    const align = array ? 16 : 4;
    const offset = Math.ceil(end / align) * align;
    end = offset + (array ? 16 * Number(f[4]) : 4);
    fields.set(f[1], { word: offset / 4, kind: array ? f[3] : f[2] });
  }
  const fn = { u32: 'pu', f32: 'pf', i32: 'pi' };
  return (text.slice(0, m.index) + text.slice(m.index + m[0].length)).replace(
    /\bparams\.(\w+)\b/g,
    (all, name) => {
      const f = fields.get(name);
      return f ? `${fn[f.kind]}(${f.word}u)` : all;
    },
  );
}

/**
 * PTX names that number a function by its place in the module (branch labels, local stack depots):
 * removing another kernel from the file renumbers them without changing any code, so they are
 * compared without the number.
 */
function ptxOrder(text) {
  return text.replace(/\$L__BB\d+_/g, '$L__BB_').replace(/__local_depot\d+/g, '__local_depot');
}

const isFile = (p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

const safeName = (s) => s.replace(/[^A-Za-z0-9_.+-]/g, '_').slice(0, 200);

async function wgsl() {
  const load = (p) => import(pathToFileURL(join(root, p)).href);
  const core = await load('packages/core/dist/index.js');
  // --root may name a checkout from before the kit became its own package.
  const conformance = await load(
    [
      'packages/conformance/dist/index.node.js',
      'packages/core/dist/conformance/index.node.js',
      'packages/core/dist/conformance/index.js',
    ].find((p) => isFile(join(root, p))),
  );
  const wg = await load('packages/webgpu-wgsl/dist/index.node.js');
  const be = await wg.createWebGpuBackend();
  const seen = new Map();
  // Record each kernel and skip the GPU work: the kernel a call picks depends on shapes, dtypes and
  // device features only, never on tensor values.
  be.dispatch = (def) => {
    // The parameter struct (named kernel parameters) is part of the kernel's source when it has one.
    const params = def.params ? `// params:\n${def.params.wgsl}` : '';
    const text = `${def.directives ?? ''}${params}// bindings: ${JSON.stringify(def.bufs)}\n${def.body}`;
    const prev = seen.get(def.key);
    if (prev !== undefined && prev !== text) throw new Error(`kernel key ${def.key} names two sources`);
    seen.set(def.key, text);
  };
  core.registerBackend('fingerprint', () => be, -1);
  await core.initBackend('fingerprint');
  const fixturesDir = ['packages/conformance/fixtures/golden', 'packages/core/fixtures/golden']
    .map((p) => join(root, p))
    .find((p) => {
      try {
        return statSync(p).isDirectory();
      } catch {
        return false;
      }
    });
  await conformance.runConformance({ backend: be, fixturesDir, properties: false });
  const shapes = [
    [64, 4, 64],
    [300, 4, 200],
    [1024, 4, 1024],
    [4096, 4, 1024],
    [4096, 4, 2048],
    [512, 8, 256],
    [512, 2, 96],
    [33, 4, 8],
  ];
  for (const dtype of ['bf16', 'f16', 'f32'])
    for (const [n, hc, c] of shapes)
      for (const sinkhornSave of ['history', 'recompute'])
        for (const orientation of ['liger', 'deepseek']) {
          const m = hc * hc + 2 * hc;
          const o = { backend: 'fingerprint' };
          const x = core.zeros([n, hc, c], { ...o, dtype, requiresGrad: true });
          const phi = core.zeros([hc * c, m], { ...o, dtype: 'f32', requiresGrad: true });
          const b = core.zeros([m], { ...o, requiresGrad: true });
          const a = [0, 1, 2].map(() => core.full([], 1, { ...o, requiresGrad: true }));
          try {
            const y = core.mhcForward(x, (t) => t, phi, b, a[0], a[1], a[2], {
              allowFp32: true,
              sinkhornSave,
              orientation,
            });
            y.backward(core.zeros(y.shape, { ...o, dtype }));
            await be.sync();
          } catch (e) {
            console.warn(`wgsl ${dtype} ${n}x${hc}x${c} ${sinkhornSave} ${orientation}: ${e.message}`);
          }
          for (const t of [x, phi, b, ...a]) {
            t.grad?.dispose();
            t.dispose();
          }
        }
  // The generic kernels a model step uses: the mini LM (embedding, linear, mHC, cross-entropy,
  // AdamW and SGD) in each activation dtype, and the ops it does not reach.
  for (const act of ['f32', 'bf16', 'f16']) {
    try {
      const o = { backend: 'fingerprint' };
      const lm = new core.MiniMhcLM({
        vocab: 40,
        hc: 4,
        c: 32,
        layers: 1,
        activationDtype: act,
        ...o,
        rng: new core.Random(0),
      });
      const ids = core.zeros([2, 8], { ...o, dtype: 'i32' });
      const { loss } = lm.loss(ids, ids);
      loss.backward();
      for (const [Opt, optOptions] of [
        [core.AdamW, { lr: 1e-3 }],
        [core.SGD, { lr: 1e-3 }],
        [core.SGD, { lr: 1e-3, momentum: 0.9 }],
      ])
        new Opt(lm.parameters(), optOptions).step();
      const x = core.zeros([3, 8, 8], { ...o, dtype: act, requiresGrad: true });
      const w = core.ones([8], { ...o, dtype: act, requiresGrad: true });
      const ys = [
        core.softmax(x, { causal: true }),
        core.softmax(x),
        core.rmsNorm(x, w),
        core.transpose(x, [0, 2, 1]),
        core.concat([core.slice(x, 2, 0, 3), core.slice(x, 2, 3, 8)], 2),
        core.mean(x, [1], true),
        ...['exp', 'log', 'sqrt', 'neg', 'relu', 'gelu', 'silu', 'sigmoid', 'tanh'].map((op) =>
          core.unary(op, x),
        ),
        core.matmul(x, x, { transposeB: true }),
        core.matmul(x, x, { transposeA: true }),
        core.cast(x, 'f32'),
        // Broadcasting binaries (the strided kernels) and the affine map.
        core.add(x, w),
        core.mul(core.slice(x, 1, 0, 1), x),
        core.sub(x, w),
      ];
      for (const y of ys) core.sum(core.cast(y, 'f32')).backward();
      // Fused attention and DeepSeek-V4's head, expand and pre+norm kernels.
      for (const causal of [false, true]) {
        const [q, k, v] = [0, 1, 2].map(() =>
          core.zeros([2, 8, 16], { ...o, dtype: act, requiresGrad: true }),
        );
        core.sum(core.cast(core.scaledDotProductAttention(q, k, v, { causal }), 'f32')).backward();
      }
      for (const c of [32, 33]) {
        const xs = core.zeros([6, 4, c], { ...o, dtype: act, requiresGrad: true });
        const phi = core.zeros([4, 4 * c], { ...o, requiresGrad: true });
        const base = core.zeros([4], { ...o, requiresGrad: true });
        const scale = core.ones([1], { ...o, requiresGrad: true });
        const hPre = core.zeros([6, 4], { ...o, requiresGrad: true });
        const nw = core.ones([c], { ...o, dtype: act, requiresGrad: true });
        const xe = core.zeros([6, c], { ...o, dtype: act, requiresGrad: true });
        for (const y of [
          core.mhcHead(xs, phi, base, scale, { allowFp32: true }),
          core.mhcExpand(xe, 4),
          core.mhcPreNorm(xs, hPre, nw),
        ])
          core.sum(core.cast(y, 'f32')).backward();
      }
      await be.sync();
    } catch (e) {
      console.warn(`wgsl generic ${act}: ${e.message}`);
    }
  }
  const dir = join(out, 'wgsl');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [key, text] of seen) writeFileSync(join(dir, `${safeName(key)}.wgsl`), text);
  be.dispose();
  console.log(`wgsl: ${seen.size} kernels -> ${dir}`);
}

/**
 * Kernels in an anonymous namespace get a mangled name that hashes the source file
 * (`<len>_GLOBAL__N__<hash>_<n>_<file>_cu_<hash>_<n>`); the length prefix tells where it ends.
 * Replaced by a fixed token so a kernel moved to another file keeps its name.
 */
function anonymous(text) {
  let out = '';
  let at = 0;
  const re = /(\d+)_GLOBAL__N_/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[1].length;
    const end = start + Number(m[1]);
    out += `${text.slice(at, m.index)}7_ANON__`;
    at = end;
    re.lastIndex = end;
  }
  return out + text.slice(at);
}

/** The `.text.<kernel>` sections of an ELF64 cubin: [kernel name, machine code bytes]. */
function cubinTexts(b) {
  const shoff = Number(b.readBigUInt64LE(0x28));
  const n = b.readUInt16LE(0x3c);
  const sh = (i) => {
    const o = shoff + i * b.readUInt16LE(0x3a);
    return {
      name: b.readUInt32LE(o),
      off: Number(b.readBigUInt64LE(o + 24)),
      size: Number(b.readBigUInt64LE(o + 32)),
    };
  };
  const strtab = sh(b.readUInt16LE(0x3e));
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = sh(i);
    const start = strtab.off + s.name;
    const name = b.toString('latin1', start, b.indexOf(0, start));
    if (name.startsWith('.text.')) out.push([name.slice(6), b.subarray(s.off, s.off + s.size)]);
  }
  return out;
}

function cuda() {
  const native = join(root, 'packages/cuda-native/native');
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.cu')) files.push(p);
    }
  };
  walk(join(native, 'kernels'));
  const hasCuobjdump = !opts.cubin && spawnSync('cuobjdump', ['--version']).status === 0;
  const dir = join(out, 'cuda');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'kernel-fp-'));
  const flags = ['-arch=sm_90', '-std=c++17', '--expt-relaxed-constexpr', `-I${native}`];
  let count = 0;
  for (const f of files.sort()) {
    const stem = basename(f, '.cu');
    if (opts.cubin) {
      const cubin = join(tmp, `${stem}.cubin`);
      execFileSync(opts.nvcc, ['-cubin', ...flags, '-o', cubin, f], { stdio: 'inherit' });
      for (const [name, bytes] of cubinTexts(readFileSync(cubin))) {
        writeFileSync(
          join(dir, `${safeName(anonymous(name))}.text`),
          `${bytes.toString('hex').replace(/(.{32})/g, '$1\n')}\n`,
        );
        count++;
      }
    } else if (hasCuobjdump) {
      const cubin = join(tmp, `${stem}.cubin`);
      execFileSync(opts.nvcc, ['-cubin', ...flags, '-o', cubin, f], { stdio: 'inherit' });
      const sass = execFileSync('cuobjdump', ['-sass', cubin], { maxBuffer: 1 << 28 }).toString();
      // One block per kernel, from its "Function :" line to the next.
      for (const block of sass.split(/\n(?=\s*Function : )/).slice(1)) {
        const name = /Function : (\S+)/.exec(block)[1];
        writeFileSync(join(dir, `${safeName(name)}.sass`), block.trim());
        count++;
      }
    } else {
      const ptxFile = join(tmp, `${stem}.ptx`);
      execFileSync(opts.nvcc, ['-ptx', ...flags, '-o', ptxFile, f], { stdio: 'inherit' });
      const ptx = anonymous(readFileSync(ptxFile, 'utf8'))
        .split('\n')
        .filter((l) => !/^\s*\.(loc|file)\b/.test(l) && !/^\s*\/\//.test(l))
        .join('\n');
      const re = /^(?:\.visible |\.weak )?\.entry (\S+?)\(/gm;
      const starts = [...ptx.matchAll(re)];
      starts.forEach((m, i) => {
        const end = i + 1 < starts.length ? starts[i + 1].index : ptx.length;
        let body = ptx.slice(m.index, end);
        // Trim what follows the entry's closing brace (declarations of the next kernel).
        const close = body.lastIndexOf('\n}');
        if (close >= 0) body = body.slice(0, close + 2);
        writeFileSync(join(dir, `${safeName(m[1])}.ptx`), `${body}\n`);
        count++;
      });
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(
    `cuda: ${count} kernels (${opts.cubin ? 'cubin .text' : hasCuobjdump ? 'SASS' : 'PTX'}) from ${files.length} files -> ${dir}`,
  );
}

if (!opts['skip-wgsl']) await wgsl();
if (!opts['skip-cuda']) cuda();
process.exit(0);
