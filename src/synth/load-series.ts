import { mulberry32 } from '../random.js';

/**
 * A synthetic time series of expert counts drawn from real ones: each step and layer, `draws` expert
 * choices drawn independently from that layer's share of the real counts (a multinomial), with the
 * project's seeded generator. Draws use Walker's alias method, so a step costs O(draws), not O(draws x E).
 * Layers with no real load (dense) stay zero.
 */
export function drawLoadSeries(counts: number[][], options: { steps: number; draws: number; seed: number }): number[][][] {
  const uniform = mulberry32(options.seed);
  const tables = counts.map((row) => (row.some((count) => count > 0) ? aliasTable(row) : null));
  return Array.from({ length: options.steps }, () =>
    tables.map((table, layer) => {
      const drawn = new Array<number>(counts[layer].length).fill(0);
      if (table) for (let i = 0; i < options.draws; i++) drawn[table.draw(uniform)] += 1;
      return drawn;
    }),
  );
}

export interface AliasTable {
  draw(uniform: () => number): number;
}

/** Walker's alias method for the distribution proportional to `weights`. */
export function aliasTable(weights: number[]): AliasTable {
  const n = weights.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const scaled = weights.map((w) => (w * n) / total);
  const probability = new Float64Array(n);
  const alias = new Int32Array(n);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large.pop()!;
    probability[s] = scaled[s];
    alias[s] = l;
    scaled[l] += scaled[s] - 1;
    (scaled[l] < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) probability[i] = 1;
  return {
    draw(uniform) {
      const u = uniform() * n;
      const i = Math.min(n - 1, Math.floor(u));
      return u - i < probability[i] ? i : alias[i];
    },
  };
}
