import { defineCommand, UsageError } from '../args.js';

const NAMES = ['liger-mhc', 'liger', 'deepseek-v4'] as const;

/**
 * `liger-mhc convert`: rename a checkpoint's tensors between our names, Liger's and DeepSeek-V4's
 * (the name map of @liger-mhc/models), optionally describing the output so it is self-describing.
 */
export const convert = defineCommand({
  name: 'convert',
  summary: "rename a checkpoint between our, Liger's and DeepSeek-V4's parameter names",
  description: `Every tensor keeps its dtype, shape and bytes (I64 included) and foreign metadata is
kept. The input's names come from its metadata when it is a liger-mhc checkpoint, else from --from.
With --model and --config (or when the input describes itself) the output is a self-describing
liger-mhc checkpoint, checked by loading it into the model. The output is written atomically.`,
  options: {
    in: { type: 'string', value: 'FILE', help: 'input .safetensors file' },
    out: { type: 'string', value: 'FILE', help: 'output .safetensors file' },
    from: {
      type: 'enum',
      choices: NAMES,
      help: 'names the input uses',
      defaultNote: 'its metadata, else liger-mhc',
    },
    to: { type: 'enum', choices: NAMES, default: 'liger-mhc', help: 'names to write' },
    nesting: {
      type: 'enum',
      choices: ['modules', 'liger-test'],
      default: 'modules',
      requires: { to: 'liger' },
      help: "Liger's nesting: LigerMHC modules, or Liger's one-layer mini-LM test model",
    },
    model: {
      type: 'enum',
      choices: ['mini-lm', 'gpt', 'tiny-deepseek-v4'],
      help: 'the model the tensors belong to (describes the output)',
    },
    config: { type: 'string', value: 'JSON', help: "the model's config, a JSON object (with --model)" },
    vocabulary: {
      type: 'string',
      value: 'FILE',
      help: 'JSON array of token strings to store (with --model)',
    },
  },
  examples: [
    'liger-mhc convert --in liger_mini_lm.safetensors --from liger --out mini.safetensors --model mini-lm --config \'{"vocab":32,"hc":2,"c":16,"layers":1,"tmax":4,"preEps":0.0001}\'',
    'liger-mhc convert --in runs/mini-lm/model.safetensors --to liger --out liger.safetensors',
  ],
  async run(v) {
    if (v.in === undefined) throw new UsageError('--in is required', 'convert');
    if (v.out === undefined) throw new UsageError('--out is required', 'convert');
    if ((v.model === undefined) !== (v.config === undefined))
      throw new UsageError('--model and --config go together', 'convert');
    if (v.vocabulary !== undefined && v.model === undefined)
      throw new UsageError('--vocabulary needs --model and --config', 'convert');
    const { readFile } = await import('node:fs/promises');
    const { resolve } = await import('node:path');
    const { writeFileAtomic } = await import('@liger-mhc/core');
    const { convertCheckpoint } = await import('@liger-mhc/models');
    const here = (p: string) => resolve(process.env.INIT_CWD ?? process.cwd(), p);
    const json = (text: string, flag: string): unknown => {
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new UsageError(`--${flag}: not valid JSON (${(err as Error).message})`, 'convert');
      }
    };
    let config: Record<string, unknown> | undefined;
    if (v.config !== undefined) {
      const c = json(v.config, 'config');
      if (c === null || typeof c !== 'object' || Array.isArray(c))
        throw new UsageError('--config: expected a JSON object', 'convert');
      config = c as Record<string, unknown>;
    }
    let vocabulary: string[] | undefined;
    if (v.vocabulary !== undefined) {
      const list = json(await readFile(here(v.vocabulary), 'utf8'), 'vocabulary');
      if (!Array.isArray(list) || list.some((t) => typeof t !== 'string'))
        throw new UsageError('--vocabulary: expected a JSON array of strings', 'convert');
      vocabulary = list as string[];
    }
    const bytes = new Uint8Array(await readFile(here(v.in)));
    const out = await convertCheckpoint(bytes, {
      from: v.from,
      to: v.to,
      nesting: v.to === 'liger' ? (v.nesting as 'modules' | 'liger-test') : undefined,
      model: v.model,
      config,
      vocabulary,
    });
    await writeFileAtomic(here(v.out), out);
    process.stdout.write(`wrote ${v.out} (${out.length} bytes, ${v.to} names)\n`);
    return 0;
  },
});
