import { defineCommand, UsageError } from '../args.js';
import { backendOption } from '../backend-flag.js';

/**
 * `liger-mhc generate`: continue a prompt with a trained checkpoint, tokenized with the vocabulary
 * stored in the checkpoint.
 */
export const generate = defineCommand({
  name: 'generate',
  summary: 'continue a text prompt with a trained checkpoint (its own vocabulary)',
  description: `Loads a checkpoint written by 'liger-mhc train' (or any liger-mhc checkpoint that
stores its vocabulary), builds the model it describes and samples one token at a time. Prints the
prompt followed by the generated text.`,
  options: {
    weights: {
      type: 'string',
      value: 'PATH',
      help: 'checkpoint file, or a directory holding model.safetensors',
    },
    prompt: { type: 'string', value: 'TEXT', help: 'text to continue' },
    length: { type: 'int', min: 0, default: 200, help: 'tokens to generate' },
    temperature: { type: 'number', min: 0, default: 0.8, help: 'softmax temperature (0: greedy)' },
    'top-k': { type: 'int', min: 1, help: 'sample among the K most likely tokens', defaultNote: 'all' },
    seed: { type: 'int', default: 0, help: 'seed of the sampler' },
    backend: backendOption,
  },
  examples: [
    'liger-mhc generate --weights runs/mini-lm --prompt "Fellow"',
    'liger-mhc generate --weights runs/gpt --prompt "The " --length 400 --temperature 0.6 --top-k 10',
  ],
  async run(v) {
    if (v.weights === undefined) throw new UsageError('--weights is required', 'generate');
    if (v.prompt === undefined) throw new UsageError('--prompt is required', 'generate');
    const { resolve } = await import('node:path');
    const { existsSync } = await import('node:fs');
    const { generate: sample, loadCheckpoint, Tokenizer } = await import('@liger-mhc/models');
    const { chooseBackend } = await import('../backends.js');
    // pnpm runs scripts from the workspace root; a relative path means the caller's.
    const path = resolve(process.env.INIT_CWD ?? process.cwd(), v.weights);
    if (!existsSync(path))
      throw new UsageError(`--weights: no such file or directory '${v.weights}'`, 'generate');
    const backend = await chooseBackend(v.backend);
    const { model, info } = await loadCheckpoint(path, { backend });
    try {
      if (!info.vocabulary)
        throw new UsageError(
          `--weights: '${v.weights}' stores no vocabulary (train with 'liger-mhc train', or convert with --vocabulary)`,
          'generate',
        );
      const tok = new Tokenizer(info.vocabulary);
      let prompt: number[];
      try {
        prompt = tok.encode(v.prompt);
      } catch (err) {
        throw new UsageError(`--prompt: ${(err as Error).message}`, 'generate');
      }
      if (prompt.length === 0) throw new UsageError('--prompt: expected at least one character', 'generate');
      process.stdout.write(v.prompt);
      await sample(model, prompt, {
        maxNewTokens: v.length,
        temperature: v.temperature,
        topK: v['top-k'],
        seed: v.seed,
        onToken: (id) => process.stdout.write(tok.decode([id])),
      });
      process.stdout.write('\n');
    } finally {
      model.dispose();
    }
    return 0;
  },
});
