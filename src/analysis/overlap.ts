/**
 * Overlap of two routing decisions at a layer (analyses.md, "Overlap and specialization"):
 * |S_a ∩ S_b| / K. Random routing gives K/E on average, so kappa rescales it to 0 for chance and 1 for
 * identical choices: kappa = (overlap - K/E) / (1 - K/E).
 */

export function overlap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`overlap: sets of ${a.length} and ${b.length} experts`);
  let shared = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) if (a[i] === b[j]) shared += 1;
  }
  return shared / a.length;
}

export function chanceOverlap(k: number, experts: number): number {
  return k / experts;
}

export function kappa(value: number, k: number, experts: number): number {
  const chance = chanceOverlap(k, experts);
  return (value - chance) / (1 - chance);
}
