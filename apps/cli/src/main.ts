#!/usr/bin/env node
import { parseCommandArgs, UsageError } from './args.js';
import { CliError } from './cli-error.js';
import { COMMANDS, DEFAULT_COMMAND } from './commands/index.js';
import { commandHelp, mainHelp, PROGRAM } from './help.js';
import { cliVersion } from './version.js';

/** Dispatch: `liger-mhc [command] [flags]`. Exit status 0 ok, 1 the work failed, 2 a usage error. */
async function main(argv: string[]): Promise<number> {
  // pnpm forwards the `--` of `pnpm start -- --steps 5`; no command takes positional arguments, so
  // a bare `--` carries no meaning here.
  const args = argv.filter((a) => a !== '--');
  const first = args[0];
  if (first === '--version' || first === '-v') {
    if (args.length > 1) throw new UsageError(`${first} takes no other arguments`);
    process.stdout.write(`${cliVersion()}\n`);
    return 0;
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? args[1] : undefined;
    if (topic === undefined) {
      process.stdout.write(mainHelp(COMMANDS, DEFAULT_COMMAND));
      return first === undefined ? 2 : 0;
    }
    process.stdout.write(commandHelp(findCommand(topic)));
    return 0;
  }
  const named = !first.startsWith('-');
  const command = findCommand(named ? first : DEFAULT_COMMAND);
  const values = parseCommandArgs(command, named ? args.slice(1) : args);
  if (values.help === true) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(values);
  } catch (err) {
    if (err instanceof CliError) err.command ??= command.name;
    throw err;
  }
}

function findCommand(name: string) {
  const c = COMMANDS.find((x) => x.name === name);
  if (!c)
    throw new UsageError(
      `unknown command '${name}' (commands: ${COMMANDS.map((x) => x.name).join(', ')}; see ${PROGRAM} --help)`,
    );
  return c;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof CliError)
      process.stderr.write(`${PROGRAM}${err.command ? ` ${err.command}` : ''}: ${err.message}\n`);
    else process.stderr.write(`${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
