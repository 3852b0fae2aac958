import { plantedClass, type PlantedClass } from './token-classes.js';
import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * The answer `synth --planted` plants (config.json `moe_inspect_synth.planted`): tokens of a class go to
 * that class's experts from layer `fromLayer` on. Measured per layer: the share of the class's tokens whose
 * K chosen experts include every planted expert of the class, beside the same share for tokens of no
 * planted class (what the planted experts get without the plant's help).
 */
export interface PlantedAnswer {
  fromLayer: number;
  experts: Record<PlantedClass, number[]>;
}

/** The planted answer recorded in a model's config.json, or undefined for a model without one. */
export function plantedAnswer(config: Record<string, unknown>): PlantedAnswer | undefined {
  const synth = config.moe_inspect_synth;
  if (typeof synth !== 'object' || synth === null) return undefined;
  const planted = (synth as Record<string, unknown>).planted as { fromLayer?: unknown; experts?: Record<string, unknown> } | null | undefined;
  if (!planted || typeof planted.fromLayer !== 'number' || !planted.experts) return undefined;
  const list = (value: unknown) => (Array.isArray(value) && value.every((e) => Number.isSafeInteger(e)) ? (value as number[]) : undefined);
  const digit = list(planted.experts.digit);
  const punct = list(planted.experts.punct);
  return digit && punct ? { fromLayer: planted.fromLayer, experts: { digit, punct } } : undefined;
}

/** Per layer, for each planted class and for the other tokens, how many tokens and how many reached all the class's experts. */
export interface PlantedLayer {
  layer: number;
  classes: Array<{ cls: PlantedClass; experts: number[]; tokens: number; reached: number; share: number | undefined; otherTokens: number; otherReached: number; otherShare: number | undefined }>;
}

/**
 * Counts, per layer, the tokens of each planted class (and of no planted class) whose chosen experts
 * include all of a class's planted experts. `texts[t]` is token t's text; tokens without text are left out.
 */
export class PlantedCounter implements RoutingAccumulator {
  private readonly classOf: Int8Array;
  private readonly classes: PlantedClass[] = ['digit', 'punct'];
  /** [L][class] tokens and reached, for the class's tokens (index 0) and the other tokens (index 1). */
  private readonly tokens: Float64Array;
  private readonly reached: Float64Array;

  constructor(
    texts: (t: number) => string,
    T: number,
    private readonly answer: PlantedAnswer,
    private readonly L: number,
    private readonly K: number,
  ) {
    // 0 digit, 1 punct, 2 neither, -1 no text.
    this.classOf = new Int8Array(T);
    for (let t = 0; t < T; t++) {
      const text = texts(t);
      this.classOf[t] = text.length === 0 ? -1 : { digit: 0, punct: 1, none: 2 }[plantedClass(text) ?? 'none'];
    }
    this.tokens = new Float64Array(L * 2 * 2);
    this.reached = new Float64Array(L * 2 * 2);
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    const { L, K } = this;
    const planted = this.classes.map((cls) => this.answer.experts[cls]);
    for (let i = 0; i < tokens; i++) {
      const own = this.classOf[start + i];
      if (own < 0) continue;
      for (let l = 0; l < L; l++) {
        const chosen = ids.subarray((i * L + l) * K, (i * L + l + 1) * K);
        planted.forEach((experts, c) => {
          // Tokens of class c count as its own; tokens of no planted class as the others. (A digit token is
          // not an "other" token for punctuation: its own plant may pull it elsewhere.)
          const slot = own === c ? 0 : own === 2 ? 1 : -1;
          if (slot < 0) return;
          const at = (l * 2 + c) * 2 + slot;
          this.tokens[at] += 1;
          if (experts.every((e) => chosen.includes(e))) this.reached[at] += 1;
        });
      }
    }
  }

  layer(l: number, layer: number): PlantedLayer {
    return {
      layer,
      classes: this.classes.map((cls, c) => {
        const at = (l * 2 + c) * 2;
        const share = (i: number) => (this.tokens[at + i] > 0 ? this.reached[at + i] / this.tokens[at + i] : undefined);
        return { cls, experts: this.answer.experts[cls], tokens: this.tokens[at], reached: this.reached[at], share: share(0), otherTokens: this.tokens[at + 1], otherReached: this.reached[at + 1], otherShare: share(1) };
      }),
    };
  }
}
