/**
 * The analyses read a trace's routing in blocks of whole tokens, so a trace of any length is analysed in
 * bounded memory: each analysis is an accumulator that sees every block once, in token order, and is
 * turned into plain figures at the end.
 */

/** Routing of tokens `start .. start + tokens - 1`. */
export interface RoutingBlock {
  /** Global index of the block's first token. */
  start: number;
  tokens: number;
  /** [tokens, L, K] expert ids, as the trace's `topk_ids`. */
  ids: Int32Array;
}

export interface RoutingAccumulator {
  add(block: RoutingBlock): void;
}

/** What a routing source must offer: a trace (src/trace.ts) or plain arrays in tests. */
export interface RoutingSource {
  nTokens: number;
  readTopkIds(tokenStart: number, tokenEnd: number): Int32Array;
}

export const streamDefaults = {
  /** 65536 tokens x 27 layers x top-6 is 42 MB of ids per block. */
  blockTokens: 65536,
};

export interface StreamOptions {
  blockTokens?: number;
  /** Called after each block with the tokens done so far in this pass. */
  onBlock?: (tokensDone: number) => void;
}

/** One pass over the source: every accumulator sees every block. */
export function streamRouting(source: RoutingSource, accumulators: RoutingAccumulator[], options: StreamOptions = {}): void {
  const { blockTokens = streamDefaults.blockTokens, onBlock } = options;
  for (let start = 0; start < source.nTokens; start += blockTokens) {
    const end = Math.min(source.nTokens, start + blockTokens);
    const block: RoutingBlock = { start, tokens: end - start, ids: source.readTopkIds(start, end) };
    for (const accumulator of accumulators) accumulator.add(block);
    onBlock?.(end);
  }
}

