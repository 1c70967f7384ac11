import { parseArgs } from 'node:util';

/**
 * Every subcommand declares its flags in one table (name → type, default, help text). The table
 * drives both the strict parse (node:util parseArgs: an unknown flag, a missing value, a bad number
 * or a value outside an enum is a UsageError naming the flag, before any work starts) and the
 * generated `--help`.
 */
interface OptionBase {
  /** One line for `--help`. */
  help: string;
  /** Shown in `--help` instead of the default where it depends on other flags. */
  defaultNote?: string;
  /** The flag is only meaningful with these other flag values (e.g. `{ model: 'gpt' }`). */
  requires?: Readonly<Record<string, string>>;
}
export interface StringOption extends OptionBase {
  type: 'string';
  default?: string;
  /** The value's name in `--help` (default VALUE). */
  value?: string;
}
export interface BooleanOption extends OptionBase {
  type: 'boolean';
}
export interface NumberOption extends OptionBase {
  /** 'int': a whole number; 'number': any finite number. */
  type: 'int' | 'number';
  default?: number;
  min?: number;
}
export interface EnumOption<C extends string = string> extends OptionBase {
  type: 'enum';
  choices: readonly C[];
  default?: C;
}
export type OptionSpec = StringOption | BooleanOption | NumberOption | EnumOption;
export type OptionTable = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends BooleanOption
  ? boolean
  : S extends NumberOption
    ? number
    : S extends EnumOption<infer C>
      ? C
      : string;
/** Parsed values: booleans are always set; other flags are set where given or defaulted. */
export type Values<O extends OptionTable> = {
  -readonly [K in keyof O]: O[K] extends BooleanOption
    ? boolean
    : O[K] extends { default: string | number }
      ? ValueOf<O[K]>
      : ValueOf<O[K]> | undefined;
};

/** A command-line mistake: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** The subcommand whose flags were wrong, if any (printed before the message). */
  command: string | null;
  constructor(message: string, command: string | null = null) {
    super(message);
    this.command = command;
  }
}

/** One subcommand: its flag table and what it runs. One file per subcommand under commands/. */
export interface Command<O extends OptionTable = OptionTable> {
  name: string;
  /** One line for the command list of `liger-mhc --help`. */
  summary: string;
  /** Paragraph(s) for `liger-mhc <name> --help`. */
  description?: string;
  options: O;
  examples?: readonly string[];
  /** Does the work; returns the exit status. Called only after every flag has been checked. */
  run(values: Values<O>): Promise<number>;
}

/** Erases the table type so commands of different tables sit in one list. */
export type AnyCommand = Command<OptionTable> & { readonly __erased?: true };

export function defineCommand<const O extends OptionTable>(command: Command<O>): AnyCommand {
  return command as unknown as AnyCommand;
}

/** Flags every subcommand accepts, added to its table. */
const COMMON: OptionTable = {
  help: { type: 'boolean', help: 'print this help and exit' },
};

/** Parse a subcommand's arguments against its table; throws UsageError on the first problem. */
export function parseCommandArgs(command: AnyCommand, argv: readonly string[]): Values<OptionTable> {
  const table = { ...command.options, ...COMMON };
  const nodeOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(table))
    nodeOptions[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  nodeOptions.help!.short = 'h';
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: nodeOptions, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError(describeParseError(err, Object.keys(table)), command.name);
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  if (raw.help) return { help: true };
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(command.options)) {
    const v = raw[name];
    if (spec.type === 'boolean') out[name] = v === true;
    else if (v === undefined) out[name] = spec.default;
    else {
      try {
        out[name] = convert(name, spec, v as string);
      } catch (err) {
        if (err instanceof UsageError) err.command = command.name;
        throw err;
      }
    }
  }
  for (const [name, spec] of Object.entries(command.options)) {
    if (raw[name] === undefined || !spec.requires) continue;
    for (const [other, want] of Object.entries(spec.requires))
      if (out[other] !== want)
        throw new UsageError(`--${name} applies only with --${other} ${want}`, command.name);
  }
  return out;
}

/** The `value` names of options that take a file system path. */
const PATH_VALUES = new Set(['DIR', 'FILE', 'PATH']);

function convert(name: string, spec: Exclude<OptionSpec, BooleanOption>, v: string): string | number {
  if (spec.type === 'string') {
    if (v === '') throw new UsageError(`--${name}: expected a non-empty value`);
    // A path of blanks is a slip, not a name: it would make a folder of spaces in the working one.
    if (PATH_VALUES.has(spec.value ?? '') && v.trim() === '')
      throw new UsageError(`--${name}: expected a path, got only whitespace`);
    return v;
  }
  if (spec.type === 'enum') {
    if (!spec.choices.includes(v))
      throw new UsageError(`--${name}: expected ${orList(spec.choices)}, got '${v}'`);
    return v;
  }
  const n = v.trim() === '' ? Number.NaN : Number(v);
  const int = spec.type === 'int';
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || (spec.min !== undefined && n < spec.min))
    throw new UsageError(
      `--${name}: expected ${int ? 'an integer' : 'a number'}${spec.min !== undefined ? ` >= ${spec.min}` : ''}, got '${v}'`,
    );
  return n;
}

function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** node:util's parse errors, reworded to one line that names the flag (and a near miss). */
function describeParseError(err: unknown, known: readonly string[]): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^' ]*)/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = flag ? closest(flag.replace(/^-+/, ''), known) : null;
      return `unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(e.message ?? '')
        ? `${flag} takes no value`
        : `${flag} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const word = /'([^']*)'/.exec(e.message ?? '')?.[1];
      return `unexpected argument '${word}' (flags are written --name value)`;
    }
    default:
      return e.message ?? String(err);
  }
}

/** The known flag within edit distance 2 of a mistyped one, if exactly one is closest. */
function closest(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: a swap of two neighbours (stpes → steps) counts as one edit.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}
