import type { Figure } from '../figure.js';
import { tokenOverlay, type TokenOverlay } from '../token-overlay.js';

/** The token overlay of the trace's first prompts (as many as the page limits allow); traces with token text only. */
export const tokenOverlayFigure: Figure<'tokenOverlay', TokenOverlay> = {
  name: 'tokenOverlay',
  start: ({ trace, note }) => {
    if (!trace.hasText) {
      note('the trace has no token text, so the token overlay is left out');
      return undefined;
    }
    const label = (p: number) => (trace.promptLabels && trace.promptLabels[p] >= 0 ? ` (${trace.labels[trace.promptLabels[p]]})` : '');
    const requests = Array.from({ length: trace.nPrompts }, (_, p) => ({ prompt: p, title: `prompt ${p + 1}${label(p)}` }));
    return { passes: 0, finish: () => tokenOverlay(trace, requests) };
  },
};
