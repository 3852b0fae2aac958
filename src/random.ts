/**
 * Seeded random numbers, for synthetic weights (synth) and for the resampling of the analyses (bootstrap
 * bands, shuffled labels). Each synthetic tensor gets its own stream, keyed by the seed and the tensor's
 * name, so a tensor's values do not depend on which other tensors are generated.
 */

/** FNV-1a over the key's UTF-16 code units: a 32-bit stream seed. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: small, fast, and good enough for initialising weights and seeded tests. Returns uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zero-mean, unit-variance uniform draws for one tensor: (u - 1/2) * sqrt(12). */
export function tensorStream(seed: number, name: string): () => number {
  const uniform = mulberry32(hashKey(`${seed}:${name}`));
  const scale = Math.sqrt(12);
  return () => (uniform() - 0.5) * scale;
}

/** A random unit vector of length n. */
export function unitVector(seed: number, name: string, n: number): Float32Array {
  const draw = tensorStream(seed, name);
  const v = Float64Array.from({ length: n }, draw);
  const norm = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / norm);
}
