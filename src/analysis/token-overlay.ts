import type { Trace } from '../trace.js';

/**
 * The token overlay (the Mixtral paper's routing figure): prompts as their tokens, each with the K experts
 * it was routed to at every recorded layer, so a page can colour each token by its top-1 expert (the first
 * of topk_ids: the highest selection score) at a chosen layer. Only a bounded part of a trace goes on a
 * page: `overlayLimits` caps the prompts, the tokens of one prompt and the expert ids in all.
 */

export const overlayLimits = {
  /** Expert ids (tokens x L x K) embedded in one page: about 1.5 MB of JSON with their weights. */
  ids: 250_000,
  /** Prompts, and tokens of one prompt, at most. */
  prompts: 200,
  tokensPerPrompt: 400,
};

/** One stretch of text with its routing: a prompt of a report, a sentence of a WiC pair. */
export interface OverlayItem {
  title: string;
  /** Index of the prompt in the trace. */
  prompt: number;
  /** Each token's bytes (empty for a special token such as BOS). */
  tokens: Uint8Array[];
  /** [tokens, L, K] expert ids, as topk_ids. */
  experts: number[];
  /** [tokens, L, K] gate weights to 3 significant digits; absent where the trace has none. */
  weights?: number[];
  /** Tokens [first, last] (indices into `tokens`) to mark, such as a WiC pair's target word. */
  mark?: [number, number];
  /** The prompt has more tokens than were kept. */
  cut?: number;
}

export interface TokenOverlay {
  /** Model layer index of each layer of `experts`. */
  layers: number[];
  K: number;
  E: number;
  items: OverlayItem[];
  /** Prompts the trace has, and why not all are here. */
  promptsInTrace: number;
  limitNote?: string;
}

/** What to take from the trace: a prompt, its title and an optional range of its tokens to mark (global indices). */
export interface OverlayRequest {
  prompt: number;
  title: string;
  mark?: [number, number];
}

/**
 * The overlay of the requested prompts, in order, until the limits are reached. Needs the trace's token_text.
 */
export function tokenOverlay(trace: Trace, requests: OverlayRequest[], limits = overlayLimits): TokenOverlay {
  const { layers, k: K, nExperts: E } = trace;
  const L = layers.length;
  const tokenBudget = Math.max(1, Math.floor(limits.ids / (L * K)));
  const items: OverlayItem[] = [];
  let tokens = 0;
  let limitNote: string | undefined;
  for (const request of requests) {
    if (items.length >= limits.prompts) {
      limitNote = `at most ${limits.prompts} prompts are embedded`;
      break;
    }
    const start = trace.promptOffsets[request.prompt];
    const length = trace.promptOffsets[request.prompt + 1] - start;
    const wanted = Math.min(length, limits.tokensPerPrompt);
    const left = tokenBudget - tokens;
    // A prompt that no longer fits is left out whole, unless it is the first (then its start is shown).
    if (left < wanted && items.length > 0) {
      limitNote = `at most ${tokenBudget.toLocaleString('en-US')} tokens are embedded (${limits.ids.toLocaleString('en-US')} expert ids over ${L} layers x top-${K})`;
      break;
    }
    const kept = Math.min(wanted, left);
    const end = start + kept;
    const item: OverlayItem = {
      title: request.title,
      prompt: request.prompt,
      tokens: Array.from({ length: kept }, (_, i) => trace.tokenBytes(start + i)),
      experts: Array.from(trace.readTopkIds(start, end)),
    };
    if (trace.hasWeights) item.weights = Array.from(trace.readTopkWeights(start, end), (w) => Number(w.toPrecision(3)));
    if (request.mark) {
      const [first, last] = [request.mark[0] - start, Math.min(request.mark[1], end - 1) - start];
      if (first >= 0 && first < kept) item.mark = [first, last];
    }
    if (kept < length) item.cut = length;
    items.push(item);
    tokens += kept;
  }
  return { layers, K, E, items, promptsInTrace: trace.nPrompts, limitNote };
}
