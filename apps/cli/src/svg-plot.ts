/** A dependency-free SVG line chart of one or more loss curves. */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

export function lineChartSvg(title: string, series: Series[], xLabel = 'step', yLabel = 'loss'): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 20, t: 40, b: 48 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys);
  const y1 = Math.max(...ys, y0 + 1e-6);
  const pad = (y1 - y0) * 0.05;
  const lo = y0 - pad;
  const hi = y1 + pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - lo) / (hi - lo)) * (H - m.t - m.b);
  const ticks = 5;
  const grid: string[] = [];
  for (let i = 0; i <= ticks; i++) {
    const y = lo + ((hi - lo) * i) / ticks;
    const x = x0 + ((x1 - x0) * i) / ticks;
    grid.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
    grid.push(
      `<text x="${m.l - 8}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${y.toFixed(2)}</text>`,
    );
    grid.push(
      `<text x="${sx(x)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${Math.round(x)}</text>`,
    );
  }
  const paths = series.map((s) => {
    const d = s.points
      .map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join(' ');
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`;
  });
  const legend = series.map(
    (s, i) =>
      `<rect x="${W - m.r - 150}" y="${m.t + 6 + i * 18}" width="12" height="3" fill="${s.color}"/><text x="${W - m.r - 132}" y="${m.t + 11 + i * 18}" font-size="12">${esc(s.name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    ...grid,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${H / 2})">${esc(yLabel)}</text>`,
    ...paths,
    ...legend,
    '</svg>',
  ].join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
