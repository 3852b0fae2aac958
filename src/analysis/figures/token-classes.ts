import type { Figure } from '../figure.js';
import { tokenClass, TokenClassCounter, tokenClasses } from '../token-classes.js';

/** Per layer shown in detail: per expert, the share of its tokens in each token class (tokenClasses order). */
export type TokenClassFigure = Array<{ layer: number; shares: number[][]; overall: number[] }>;

/** Token classes per expert, for the layers shown in detail; traces with token text only. */
export const tokenClassesFigure: Figure<'tokenClasses', TokenClassFigure> = {
  name: 'tokenClasses',
  start: ({ trace, layers, detail, special, T, L, K, E }) => {
    if (!trace.hasText) return undefined;
    // A token id covers the same text wherever it occurs, up to the leading space a prompt's first token may
    // lack, which the class ignores; so each id is classified once (the trace's millions of tokens hold a few
    // thousand ids). Special tokens and ids below 0 (unknown to an imported trace) are classified where they are.
    const classOf = new Int8Array(T);
    const byId = new Map<number, number>();
    for (let t = 0; t < T; t++) {
      const id = trace.tokenIds[t];
      let cls = id >= 0 && !special?.[t] ? byId.get(id) : undefined;
      if (cls === undefined) {
        const found = tokenClass(trace.tokenText(t));
        cls = found === undefined ? -1 : tokenClasses.indexOf(found);
        if (id >= 0 && !special?.[t]) byId.set(id, cls);
      }
      classOf[t] = cls;
    }
    const counter = new TokenClassCounter(classOf, L, K, E, detail);
    return { passes: 1, accumulator: () => counter, finish: () => detail.map((l, d) => ({ layer: layers[l], shares: counter.shares(d), overall: counter.overall(d) })) };
  },
};
