/**
 * A failure of the work itself that the user can act on (a file that cannot be read or written, a
 * checkpoint that does not match the flags): printed as one line after the program's name, exit
 * status 1.
 */
export class CliError extends Error {
  override name = 'CliError';
  /** The subcommand that failed, if any (printed before the message). */
  command: string | null;
  constructor(message: string, command: string | null = null) {
    super(message);
    this.command = command;
  }
}
