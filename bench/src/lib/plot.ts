import type { ResultRow } from './results.js';

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The label of a series: the backend, plus the path for anchor runtimes (eager / compile). */
export const seriesOf = (r: ResultRow): string =>
  r.backend.startsWith('torch') ? `${r.backend} ${r.path}` : r.backend;

/**
 * A grouped bar chart (SVG) of the share of the copy roofline that each backend reaches per op and
 * mode: one panel per card and shape, one group per op+mode, one bar per backend. Only rows that
 * carry `pct_copy` are drawn.
 */
export function rooflineSvg(rows: readonly ResultRow[]): string {
  const drawn = rows.filter((r) => r.pct_copy !== undefined && r.op !== 'copy');
  const panels = new Map<string, ResultRow[]>();
  for (const r of drawn) {
    const k = `${r.card} · ${r.shape}`;
    panels.set(k, [...(panels.get(k) ?? []), r]);
  }
  const series = [...new Set(drawn.map(seriesOf))].sort();
  const barW = 18;
  const groupGap = 18;
  const left = 48;
  const plotH = 160;
  const panelH = plotH + 70;
  let width = 420;
  for (const rs of panels.values()) {
    const groups = new Set(rs.map((r) => `${r.op} ${r.mode}`)).size;
    width = Math.max(width, left + groups * (series.length * barW + groupGap) + 20);
  }
  const legendH = 24;
  const height = legendH + panels.size * panelH + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="10">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  series.forEach((s, i) => {
    const x = left + i * 130;
    out.push(`<rect x="${x}" y="6" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x + 14}" y="15">${esc(s)}</text>`);
  });
  let y0 = legendH;
  for (const [title, rs] of panels) {
    const groups = [...new Set(rs.map((r) => `${r.op} ${r.mode}`))];
    const top = y0 + 18;
    const base = top + plotH;
    const maxPct = Math.max(100, ...rs.map((r) => r.pct_copy!));
    const yOf = (p: number) => base - (p / maxPct) * plotH;
    out.push(
      `<text x="${left}" y="${y0 + 12}" font-size="12" font-weight="bold">${esc(title)} — % of copy roofline</text>`,
    );
    for (const p of [0, 25, 50, 75, 100]) {
      out.push(
        `<line x1="${left}" x2="${width - 10}" y1="${yOf(p)}" y2="${yOf(p)}" stroke="#ddd"/>`,
        `<text x="${left - 4}" y="${yOf(p) + 3}" text-anchor="end">${p}%</text>`,
      );
    }
    groups.forEach((g, gi) => {
      const gx = left + 6 + gi * (series.length * barW + groupGap);
      series.forEach((s, si) => {
        const r = rs.find((x) => `${x.op} ${x.mode}` === g && seriesOf(x) === s);
        if (!r) return;
        const h = base - yOf(r.pct_copy!);
        const x = gx + si * barW;
        out.push(
          `<rect x="${x}" y="${base - h}" width="${barW - 2}" height="${h}" fill="${COLORS[si % COLORS.length]}"><title>${esc(
            `${s} ${g}: ${r.pct_copy!.toFixed(1)}% (${r.median_ms} ms, ${r.commit})`,
          )}</title></rect>`,
        );
      });
      const cx = gx + (series.length * barW) / 2;
      out.push(`<text x="${cx}" y="${base + 14}" text-anchor="middle">${esc(g)}</text>`);
    });
    y0 += panelH;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
