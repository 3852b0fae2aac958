/**
 * DeepSeekMoE's balance losses (Dai et al. 2024, section 3.3), measured on recorded routing instead of a
 * training batch. Both are 1 when routing is perfectly balanced and the scores are softmax probabilities
 * (f_i = 1, P_i = 1/E); larger means less balanced. With sigmoid scores (DeepSeek-V3) the P_i do not sum
 * to 1, so values compare between layers of one model, not across models.
 *
 * Inputs for one layer: `load` (tokens per expert), `probSum` (router_prob_sum: sum over tokens of each
 * expert's routing score), T tokens, K experts per token.
 */

/** L_ExpBal = sum_i f_i P_i with f_i = E / (K T) * load_i and P_i = probSum_i / T. */
export function expertBalanceLoss(load: ArrayLike<number>, probSum: ArrayLike<number>, tokens: number, k: number): number {
  const E = checkSameLength(load, probSum);
  let loss = 0;
  for (let i = 0; i < E; i++) loss += ((E / (k * tokens)) * load[i] * probSum[i]) / tokens;
  return loss;
}

/**
 * L_DevBal = sum_d f'_d P'_d over D devices holding E/D contiguous experts each, with f'_d the mean of f_i
 * over the device's experts and P'_d the sum of P_i over them.
 */
export function deviceBalanceLoss(load: ArrayLike<number>, probSum: ArrayLike<number>, tokens: number, k: number, devices: number): number {
  const E = checkSameLength(load, probSum);
  if (E % devices !== 0) throw new RangeError(`deviceBalanceLoss: ${E} experts do not split over ${devices} devices`);
  const perDevice = E / devices;
  let loss = 0;
  for (let d = 0; d < devices; d++) {
    let f = 0;
    let p = 0;
    for (let i = d * perDevice; i < (d + 1) * perDevice; i++) {
      f += (E / (k * tokens)) * load[i];
      p += probSum[i] / tokens;
    }
    loss += (f / perDevice) * p;
  }
  return loss;
}

function checkSameLength(load: ArrayLike<number>, probSum: ArrayLike<number>): number {
  if (load.length !== probSum.length) throw new RangeError(`balance loss: ${load.length} loads but ${probSum.length} score sums`);
  return load.length;
}
