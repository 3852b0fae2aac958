/**
 * Cross-layer transitions (analyses.md "Expert caching and prefetch"): how well a token's top-1 expert at one
 * MoE layer tells its top-1 expert at the next. The best guess for top-1 i at layer l-1 is the j that most often
 * followed i on the training prompts (ties to the lower j; an i never seen gets layer l's most frequent top-1);
 * its accuracy on the held-out prompts is set against the chance of always guessing that most frequent expert.
 */

export interface TopOneTransitions {
  /** Share of held-out tokens whose top-1 was guessed right; null without held-out or training tokens. */
  accuracy: number | null;
  /** The same for always guessing layer l's most frequent training top-1. */
  chance: number | null;
  /** n[i * E + j]: tokens, over all prompts, with top-1 i at layer l-1 and j at layer l. */
  counts: Float64Array;
}

/**
 * `previous` and `current`: two consecutive MoE layers' [T, K] experts, best first. Tokens [0, training)
 * train the guess, the rest test it.
 */
export function topOneTransitions(previous: Int32Array, current: Int32Array, k: number, experts: number, training: number): TopOneTransitions {
  const tokens = current.length / k;
  const E = experts;
  const trained = new Float64Array(E * E);
  const counts = new Float64Array(E * E);
  const trainedTop = new Float64Array(E);
  for (let t = 0; t < tokens; t++) {
    const cell = previous[t * k] * E + current[t * k];
    counts[cell]++;
    if (t < training) {
      trained[cell]++;
      trainedTop[current[t * k]]++;
    }
  }
  if (training === 0 || training >= tokens) return { accuracy: null, chance: null, counts };
  const mostFrequent = argmax(trainedTop, 0, E);
  // guess[i]: the top-1 at layer l guessed for top-1 i at layer l-1.
  const guess = Int32Array.from({ length: E }, (_, i) => {
    let seen = 0;
    for (let j = 0; j < E; j++) seen += trained[i * E + j];
    return seen === 0 ? mostFrequent : argmax(trained, i * E, E) - i * E;
  });
  let right = 0;
  let chance = 0;
  for (let t = training; t < tokens; t++) {
    const actual = current[t * k];
    if (guess[previous[t * k]] === actual) right++;
    if (mostFrequent === actual) chance++;
  }
  const heldOut = tokens - training;
  return { accuracy: right / heldOut, chance: chance / heldOut, counts };
}

/** The `count` largest transitions i -> j, most tokens first (ties by i, then j). */
export function largestTransitions(counts: Float64Array, experts: number, count: number): Array<{ from: number; to: number; tokens: number }> {
  const cells: Array<{ from: number; to: number; tokens: number }> = [];
  counts.forEach((tokens, cell) => {
    if (tokens > 0) cells.push({ from: Math.floor(cell / experts), to: cell % experts, tokens });
  });
  return cells.sort((a, b) => b.tokens - a.tokens || a.from - b.from || a.to - b.to).slice(0, count);
}

/** Index (from `start`) of the largest of values[start .. start + n), the first one on ties. */
function argmax(values: Float64Array, start: number, n: number): number {
  let best = start;
  for (let i = start + 1; i < start + n; i++) if (values[i] > values[best]) best = i;
  return best;
}
