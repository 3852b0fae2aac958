import type { InputAnalysis } from '../analysis/analyse.js';
import type { SampledFigure } from '../analysis/small-sample.js';

/** The note beside a figure computed from too few tokens (analyses.md, "Honest small samples"), per input. */
export function smallSampleNotes(analyses: InputAnalysis[], figure: SampledFigure): string[] {
  return analyses.flatMap((a) =>
    (a.figures.smallSample ?? [])
      .filter((flag) => flag.figure === figure)
      .map((flag) => `${analyses.length > 1 ? `${a.name}: ` : ''}computed from ${flag.tokens.toLocaleString('en-US')} tokens, fewer than ${flag.threshold.toLocaleString('en-US')}: a small sample, read it as a rough estimate.`),
  );
}
