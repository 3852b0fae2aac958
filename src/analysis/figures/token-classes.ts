import type { Figure } from '../figure.js';
import { tokenClass, TokenClassCounter, tokenClasses } from '../token-classes.js';

/** Per layer shown in detail: per expert, the share of its tokens in each token class (tokenClasses order). */
export type TokenClassFigure = Array<{ layer: number; shares: number[][]; overall: number[] }>;

/** Token classes per expert, for the layers shown in detail; traces with token text only. */
export const tokenClassesFigure: Figure<'tokenClasses', TokenClassFigure> = {
  name: 'tokenClasses',
  start: ({ trace, layers, detail, T, L, K, E }) => {
    if (!trace.hasText) return undefined;
    const classOf = new Int8Array(T);
    for (let t = 0; t < T; t++) {
      const cls = tokenClass(trace.tokenText(t));
      classOf[t] = cls === undefined ? -1 : tokenClasses.indexOf(cls);
    }
    const counter = new TokenClassCounter(classOf, L, K, E, detail);
    return { passes: 1, accumulator: () => counter, finish: () => detail.map((l, d) => ({ layer: layers[l], shares: counter.shares(d), overall: counter.overall(d) })) };
  },
};
