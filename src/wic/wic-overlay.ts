import { tokenOverlay, type TokenOverlay } from '../analysis/token-overlay.js';
import type { ReportSection } from '../page/html.js';
import { overlayHtml } from '../page/token-overlay.js';
import type { Trace } from '../trace.js';
import type { WicPairJson } from './wic-result.js';

/** Pairs whose sentences are embedded in the page (the page's size stays bounded); wic.json has them all. */
export const overlayPairs = 100;

/** Both sentences of the first pairs, each with its target word's tokens marked. */
export function wicOverlay(trace: Trace, pairs: WicPairJson[]): TokenOverlay {
  const requests = pairs.slice(0, overlayPairs).flatMap((pair, i) =>
    pair.tokens.map((range, s) => ({
      prompt: 2 * i + s,
      title: `line ${pair.index + 1}, "${pair.word}" (${pair.label ? 'same sense' : 'different sense'}), sentence ${s + 1}`,
      mark: range ?? undefined,
    })),
  );
  return tokenOverlay(trace, requests);
}

/** The section of the WiC page: the sentences coloured by expert, the word outlined. */
export function wicOverlaySection(overlay: TokenOverlay, pairCount: number): ReportSection {
  const pairsShown = Math.floor(overlay.items.length / 2);
  return {
    title: 'The sentences coloured by expert',
    explanation:
      "Each pair's two sentences, every token coloured by the expert it was routed to first (its top-1 expert) at the layer picked; the target word's tokens are outlined. " +
      'Hover a token for all its experts with their gate weights, and its bytes. Same colours on the word in both sentences mean the same top-1 expert; the charts above count all K. ' +
      'Spaces show as ␣; a token whose bytes are not valid UTF-8 alone shows them in hex. Search by the word or any text of the sentences.',
    notes: pairsShown < pairCount ? [`The page embeds the sentences of the first ${pairsShown} of ${pairCount} pairs${overlay.limitNote ? ` (${overlay.limitNote})` : ''}, to keep it small; wic.json lists every pair.`] : undefined,
    html: overlayHtml(overlay, { initial: 10, layer: overlay.layers[Math.floor(overlay.layers.length / 2)], staticItems: 2, staticTokens: 40, noun: 'sentence' }),
  };
}
