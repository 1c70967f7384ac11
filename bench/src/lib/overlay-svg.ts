/** A dependency-free SVG chart of several curves over one axis pair (solid or dashed lines). */
export interface Curve {
  name: string;
  color: string;
  dashed?: boolean;
  points: readonly (readonly [number, number])[];
}

export function overlaySvg(title: string, curves: readonly Curve[], xLabel: string, yLabel: string): string {
  const W = 760;
  const H = 440;
  const m = { l: 64, r: 20, t: 40, b: 48 };
  const pts = curves.flatMap((c) => c.points);
  if (pts.length === 0) throw new Error('overlaySvg: no points');
  const x0 = Math.min(...pts.map((p) => p[0]));
  const x1 = Math.max(...pts.map((p) => p[0]), x0 + 1);
  const y0 = Math.min(...pts.map((p) => p[1]));
  const y1 = Math.max(...pts.map((p) => p[1]), y0 + 1e-6);
  const lo = y0 - (y1 - y0) * 0.05;
  const hi = y1 + (y1 - y0) * 0.05;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - lo) / (hi - lo)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = lo + ((hi - lo) * i) / 5;
    const x = x0 + ((x1 - x0) * i) / 5;
    out.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${m.l - 8}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" font-size="11">${y.toFixed(2)}</text>`,
      `<text x="${sx(x).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${Math.round(x)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${H / 2})">${esc(yLabel)}</text>`,
  );
  curves.forEach((c, i) => {
    const d = c.points
      .map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join(' ');
    const dash = c.dashed ? ' stroke-dasharray="5 3"' : '';
    out.push(`<path d="${d}" fill="none" stroke="${c.color}" stroke-width="1.5"${dash}/>`);
    const ly = m.t + 8 + i * 18;
    out.push(
      `<line x1="${W - m.r - 190}" x2="${W - m.r - 172}" y1="${ly}" y2="${ly}" stroke="${c.color}" stroke-width="2"${dash}/>`,
      `<text x="${W - m.r - 166}" y="${ly + 4}" font-size="12">${esc(c.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
