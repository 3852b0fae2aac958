import type { Figure } from '../figure.js';
import { plantedAnswer, PlantedCounter, type PlantedAnswer, type PlantedLayer } from '../planted.js';

export interface PlantedFigure {
  answer: PlantedAnswer;
  perLayer: PlantedLayer[];
}

/** How often the planted experts get their class's tokens; only for a model made by `synth --planted`. */
export const plantedFigure: Figure<'planted', PlantedFigure> = {
  name: 'planted',
  start: ({ trace, config, layers, T, L, K, note }) => {
    // The plant is recorded beside the routing fields, in the raw config.json (readable when `config` is).
    const answer = config ? plantedAnswer(trace.modelConfig()) : undefined;
    if (!answer) return undefined;
    if (!trace.hasText) {
      note('the model has a planted specialization, but the trace has no token text to tell digits and punctuation apart, so the planted answer is not checked');
      return undefined;
    }
    const counter = new PlantedCounter((t) => trace.tokenText(t), T, answer, L, K);
    return { passes: 1, accumulator: () => counter, finish: () => ({ answer, perLayer: layers.map((layer, l) => counter.layer(l, layer)) }) };
  },
};
