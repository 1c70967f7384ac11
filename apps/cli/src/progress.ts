/** A one-line progress bar on a TTY, plain periodic lines otherwise (CI logs). */
export class Progress {
  private lastPrint = 0;
  private readonly tty = Boolean(process.stdout.isTTY);

  constructor(
    private readonly total: number,
    private readonly width = 28,
  ) {}

  update(step: number, fields: Record<string, string>): void {
    const now = Date.now();
    const done = step === this.total;
    if (!this.tty && !done && now - this.lastPrint < 2000 && step !== 1) return;
    this.lastPrint = now;
    const filled = Math.round((step / this.total) * this.width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}`;
    const info = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    const line = `[${bar}] step ${String(step).padStart(String(this.total).length)}/${this.total}  ${info}`;
    if (this.tty) process.stdout.write(`\r${line}${done ? '\n' : ''}`);
    else process.stdout.write(`${line}\n`);
  }
}
