/**
 * Appends the rows of a results file written elsewhere (a GPU run's $OUT/results.csv) to this
 * checkout's bench/results/results.csv; with --anchor, the PyTorch anchor's log of the same call
 * adds its rows and each of ours gets torch.compile's time as its anchor. Then regenerate
 * CURRENT.md with `pnpm bench:current`.
 *
 *   node bench/dist/tools/merge-results.js FILE [--anchor torch-anchor.log] [--no-anchor-rows]
 *
 * --no-anchor-rows sets the anchor on FILE's rows without adding the anchor's own rows again (for
 * a second results file of the same call).
 */
import { parseArgs } from 'node:util';
import { readAnchorLog, withAnchor } from '../lib/anchor.js';
import { appendResults, readResults } from '../lib/results.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { anchor: { type: 'string' }, 'no-anchor-rows': { type: 'boolean', default: false } },
});
if (positionals.length !== 1) {
  console.error('usage: merge-results.js FILE [--anchor torch-anchor.log]');
  process.exit(2);
}
const rows = readResults(positionals[0]);
const anchored = values.anchor ? withAnchor(rows, readAnchorLog(values.anchor)) : rows;
// withAnchor returns FILE's rows first, then the anchor's.
const merged = values['no-anchor-rows'] ? anchored.slice(0, rows.length) : anchored;
appendResults(merged);
console.log(`${positionals[0]}: ${merged.length} rows appended`);
