/**
 * Rotary embedding frequencies and cos/sin tables, plain and YaRN-scaled (architecture.md 4.1, 4.3, 4.4),
 * computed in float64 and stored as fp32.
 */
import { yarnMscale, type RopeSettings } from './config.js';

/** inv_freq_i for i < dim/2: theta^(-2i/dim), blended towards inv_freq/factor by the YaRN ramp. */
export function inverseFrequencies(rope: RopeSettings): Float64Array {
  const { dim, theta, yarn } = rope;
  const half = dim / 2;
  const base = Float64Array.from({ length: half }, (_, i) => Math.pow(theta, (-2 * i) / dim));
  if (!yarn) return base;
  // corr(r) = dim · ln(L0 / (2π r)) / (2 ln theta): the dimension that turns r times over L0 positions.
  const correction = (rotations: number) => (dim * Math.log(yarn.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(correction(yarn.betaFast)), 0);
  let high = Math.min(Math.ceil(correction(yarn.betaSlow)), dim - 1);
  if (high === low) high += 0.001;
  return base.map((f, i) => {
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1);
    return f * (1 - ramp) + (f / yarn.factor) * ramp;
  });
}

/** YaRN's attention factor on cos and sin, g(factor, mscale) / g(factor, mscale_all_dim); 1 without YaRN. */
export function ropeAmplitude(rope: RopeSettings): number {
  const { yarn } = rope;
  return yarn ? yarnMscale(yarn.factor, yarn.mscale) / yarnMscale(yarn.factor, yarn.mscaleAllDim) : 1;
}

/** Row p, column i: amplitude · cos/sin(p · inv_freq_i), for p < positions. */
export function ropeTables(positions: number, rope: RopeSettings): { cos: Float32Array; sin: Float32Array } {
  const inverse = inverseFrequencies(rope);
  const amplitude = ropeAmplitude(rope);
  const half = inverse.length;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = amplitude * Math.cos(p * inverse[i]);
      sin[p * half + i] = amplitude * Math.sin(p * inverse[i]);
    }
  }
  return { cos, sin };
}
