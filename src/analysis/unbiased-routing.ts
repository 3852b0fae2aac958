/**
 * What DeepSeek-V3's balancing bias does at inference (analyses.md, "Routing without the balancing bias"):
 * the trace's `unbiased_topk_ids` hold the choice the router would make with e_score_correction_bias set to
 * zero. Compared with the real choice, per layer: the share of (token, expert) choices the bias changed, and
 * the load the router would have had without it.
 */
import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/** Where the unbiased choice is read from: a trace (src/trace.ts) or plain arrays in tests. */
export interface UnbiasedSource {
  readUnbiasedTopkIds(tokenStart: number, tokenEnd: number): Int32Array;
}

/**
 * Streams the real choice (the block) beside the unbiased one (read for the same tokens): counts, per layer,
 * the chosen experts that are not in the unbiased choice, and the load per expert without the bias.
 */
export class UnbiasedRoutingCounter implements RoutingAccumulator {
  /** [L * E] tokens per expert without the bias. */
  readonly unbiasedLoad: Float64Array;
  /** [L] (token, expert) choices with the bias that the unbiased choice does not make. */
  readonly changed: Float64Array;
  tokens = 0;

  constructor(
    private readonly source: UnbiasedSource,
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
  ) {
    this.unbiasedLoad = new Float64Array(layers * experts);
    this.changed = new Float64Array(layers);
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    const { layers, k, experts } = this;
    const unbiased = this.source.readUnbiasedTopkIds(start, start + tokens);
    for (let t = 0; t < tokens; t++) {
      for (let l = 0; l < layers; l++) {
        const base = (t * layers + l) * k;
        const without = unbiased.subarray(base, base + k);
        for (let j = 0; j < k; j++) {
          this.unbiasedLoad[l * experts + without[j]] += 1;
          if (!without.includes(ids[base + j])) this.changed[l] += 1;
        }
      }
    }
    this.tokens += tokens;
  }

  /** Share of layer l's T*K choices that the bias changed. */
  changedShare(l: number): number {
    return this.changed[l] / (this.tokens * this.k);
  }

  /** Layer l's load without the bias as a plain array. */
  layerLoad(l: number): number[] {
    return Array.from(this.unbiasedLoad.subarray(l * this.experts, (l + 1) * this.experts));
  }
}
