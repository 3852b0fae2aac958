import type { Trace } from '../../trace.js';
import type { Figure } from '../figure.js';
import { smallSampleFlags, tokensPerFigure, type SmallSampleFlag } from '../small-sample.js';

/** The figures of a trace computed from too few tokens (analyses.md, "Honest small samples"); none: undefined. */
export const smallSampleFigure: Figure<'smallSample', SmallSampleFlag[]> = {
  name: 'smallSample',
  start: ({ trace, T, rows }) => ({
    passes: 0,
    finish: () => {
      const flags = smallSampleFlags(tokensPerFigure(T, rows, labelledTokens(trace)));
      return flags.length > 0 ? flags : undefined;
    },
  }),
};

/** Tokens of prompts with a label; undefined where the trace has no labels. */
function labelledTokens(trace: Trace): number | undefined {
  if (!trace.promptLabels || trace.labels.length === 0) return undefined;
  let tokens = 0;
  for (let p = 0; p < trace.nPrompts; p++) if (trace.promptLabels[p] >= 0) tokens += trace.promptOffsets[p + 1] - trace.promptOffsets[p];
  return tokens;
}
