import type { AnyCommand, OptionSpec } from './args.js';

/** `--help` text, generated from the commands' option tables (nothing here is written by hand twice). */
export const PROGRAM = 'liger-mhc';

function placeholder(spec: OptionSpec): string {
  switch (spec.type) {
    case 'boolean':
      return '';
    case 'int':
      return ' N';
    case 'number':
      return ' X';
    case 'enum':
      return ` ${spec.choices.join('|')}`;
    case 'string':
      return ` ${spec.value ?? 'VALUE'}`;
  }
}

function notes(spec: OptionSpec): string {
  const parts: string[] = [];
  if (spec.requires)
    parts.push(
      `with ${Object.entries(spec.requires)
        .map(([k, v]) => `--${k} ${v}`)
        .join(' ')}`,
    );
  if (spec.defaultNote) parts.push(`default: ${spec.defaultNote}`);
  else if (spec.type !== 'boolean' && spec.default !== undefined) parts.push(`default ${spec.default}`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

function table(rows: [string, string][]): string {
  const w = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 34);
  return rows
    .map(([l, r]) => (l.length + 2 > w ? `  ${l}\n  ${' '.repeat(w)}${r}` : `  ${l.padEnd(w)}${r}`))
    .join('\n');
}

export function commandHelp(command: AnyCommand): string {
  const rows: [string, string][] = Object.entries(command.options).map(([name, spec]) => [
    `--${name}${placeholder(spec)}`,
    `${spec.help}${notes(spec)}`,
  ]);
  rows.push(['-h, --help', 'print this help and exit']);
  let text = `usage: ${PROGRAM} ${command.name} [flags]\n\n${command.summary}\n`;
  if (command.description) text += `\n${command.description.trim()}\n`;
  text += `\nflags:\n${table(rows)}\n`;
  if (command.examples?.length) text += `\nexamples:\n${command.examples.map((e) => `  ${e}`).join('\n')}\n`;
  return text;
}

export function mainHelp(commands: readonly AnyCommand[], defaultCommand: string): string {
  return `usage: ${PROGRAM} <command> [flags]

commands:
${table(commands.map((c) => [c.name, `${c.summary}${c.name === defaultCommand ? ' (the default command)' : ''}`]))}

flags:
${table([
  ['-h, --help', 'print this help; `<command> --help` for a command'],
  ['-v, --version', 'print the version and exit'],
])}
`;
}
