/**
 * Resampling for honest small samples (analyses.md, "Honest small samples"): bootstrap percentile intervals
 * and label shuffles, all drawn from the project's seeded generator so a report is reproducible.
 */
import { mulberry32 } from '../random.js';

export const resamplingDefaults = {
  /** Bootstrap draws. */
  draws: 1000,
  /** Label shuffles averaged for the shuffled-label baseline. */
  shuffles: 20,
  seed: 0,
};

/**
 * The p-th percentile (0..100) of `values` by linear interpolation between closest ranks (numpy's default,
 * "linear"): rank h = (n - 1) p / 100, value = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values');
  const sorted = Float64Array.from(values).sort();
  const h = ((sorted.length - 1) * p) / 100;
  const below = Math.floor(h);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (h - below) * (sorted[above] - sorted[below]);
}

/** A uniform integer in 0..n-1 from a uniform in [0, 1). */
function index(random: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/**
 * The 95% bootstrap percentile interval of `statistic` over groups of items: each draw resamples every group
 * with replacement to its own size (so each condition keeps its count), recomputes the statistic on the
 * resampled groups, and the interval is the 2.5 and 97.5 percentiles of the draws. Undefined when a group is
 * empty or the statistic is undefined on the data.
 */
export function bootstrapInterval<Item>(
  groups: Item[][],
  statistic: (groups: Item[][]) => number | undefined,
  options: { draws?: number; seed?: number } = {},
): [number, number] | undefined {
  const { draws = resamplingDefaults.draws, seed = resamplingDefaults.seed } = options;
  if (groups.some((group) => group.length === 0) || statistic(groups) === undefined) return undefined;
  const random = mulberry32(seed);
  const values: number[] = [];
  for (let d = 0; d < draws; d++) {
    const value = statistic(groups.map((group) => group.map(() => group[index(random, group.length)])));
    if (value !== undefined && Number.isFinite(value)) values.push(value);
  }
  if (values.length === 0) return undefined;
  return [percentile(values, 2.5), percentile(values, 97.5)];
}

/** `shuffles` seeded permutations of `items` (Fisher-Yates), the first drawn first. */
export function seededShuffles<Item>(items: Item[], shuffles: number, seed: number): Item[][] {
  const random = mulberry32(seed);
  return Array.from({ length: shuffles }, () => {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = index(random, i + 1);
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy;
  });
}
