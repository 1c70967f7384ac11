/** One token's coefficients: the hRes matrix as a heat map, hPre (when given) and hPost as bars. */
export function drawToken(
  t: number,
  hc: number,
  pre: ArrayLike<number> | null,
  post: ArrayLike<number>,
  res: ArrayLike<number>,
  label = `token ${t}`,
): HTMLElement {
  const box = document.createElement('div');
  box.className = 'token';
  const title = document.createElement('h3');
  title.textContent = label;
  const cell = Math.max(8, Math.floor(96 / hc));
  const canvas = document.createElement('canvas');
  canvas.width = hc * cell;
  canvas.height = hc * cell + 44;
  const g = canvas.getContext('2d')!;
  for (let i = 0; i < hc; i++)
    for (let j = 0; j < hc; j++) {
      const v = res[t * hc * hc + i * hc + j]!;
      const shade = Math.round(255 * (1 - Math.min(1, v)));
      g.fillStyle = `rgb(${shade}, ${shade}, 255)`;
      g.fillRect(j * cell, i * cell, cell - 1, cell - 1);
    }
  const w = canvas.width / hc;
  for (let s = 0; s < hc; s++) {
    if (pre) {
      g.fillStyle = '#1f77b4';
      g.fillRect(s * w, hc * cell + 4, (w - 2) * Math.min(1, pre[t * hc + s]!), 16);
    }
    g.fillStyle = '#ff7f0e';
    g.fillRect(s * w, hc * cell + 24, (w - 2) * Math.min(1, post[t * hc + s]! / 2), 16);
  }
  box.append(title, canvas);
  return box;
}
