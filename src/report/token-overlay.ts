import type { InputAnalysis } from '../analysis/analyse.js';
import { overlayLimits } from '../analysis/token-overlay.js';
import type { ReportSection } from '../page/html.js';
import { overlayHtml } from '../page/token-overlay.js';
import { plural } from '../plural.js';

/** Prompts shown before anything is searched. */
const initialPrompts = 6;

/** The report's token overlay: one section per trace with token text. */
export function tokenOverlaySections(traces: InputAnalysis[]): ReportSection[] {
  return traces.flatMap((a) => {
    const overlay = a.figures.tokenOverlay;
    if (!overlay || overlay.items.length === 0) return [];
    const embedded = overlay.items.length;
    const cut = overlay.items.filter((item) => item.cut !== undefined).length;
    const limits = [
      embedded === overlay.promptsInTrace
        ? `The page embeds every prompt of the trace (${plural(embedded, 'prompt')}); the search box searches them.`
        : `The page embeds the first ${embedded} of ${plural(overlay.promptsInTrace, 'prompt')}${overlay.limitNote ? ` (${overlay.limitNote}, to keep the page small)` : ''}; the search box searches those.`,
      ...(cut > 0 ? [`${plural(cut, 'prompt')} longer than ${overlayLimits.tokensPerPrompt} tokens ${cut > 1 ? 'are' : 'is'} shown up to there.`] : []),
    ];
    // The planted layer where the model has one (the demo's), else the middle layer.
    const layer = a.figures.planted?.answer.fromLayer ?? a.layers[Math.floor(a.layers.length / 2)];
    return [
      {
        title: traces.length > 1 ? `Tokens coloured by expert: ${a.name}` : 'Tokens coloured by expert',
        explanation:
          "Each prompt's tokens, coloured by the expert each was routed to first (its top-1 expert: the highest selection score) at the layer picked, as in the routing figure of the Mixtral paper. " +
          `Hover a token for all ${a.k} of its experts with their gate weights, and its bytes. Spaces show as ␣, line breaks as ↵; a token whose bytes are not valid UTF-8 on their own shows them in hex in a box. ` +
          'Runs of one colour are text one expert handles; colours that follow token kinds (digits, punctuation) rather than meaning are routing that keys on the surface form. The search box finds prompts by their text.' +
          '\n\nThe printable form below shows every layer for the first prompts: read a column downwards to see one token move between experts with depth.',
        notes: limits,
        html: overlayHtml(overlay, { initial: initialPrompts, layer }),
      },
    ];
  });
}
