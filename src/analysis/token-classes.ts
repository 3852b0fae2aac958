import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * Token classes (analyses.md, "Token classes"): what kind of text a token is. A token's class is the class
 * of all its characters, else "mixed"; one leading space does not count (byte-level and SentencePiece
 * vocabularies glue a word's space to its front, so " 42" is digits and " the" letters). A token of
 * whitespace only is "whitespace". Tokens without text (BOS and other added tokens) have no class.
 */
export const tokenClasses = ['digits', 'punctuation', 'letters', 'CJK', 'whitespace', 'other', 'mixed'] as const;
export type TokenClass = (typeof tokenClasses)[number];

/** The class of one character. Punctuation includes symbols ($, +, <); CJK is Han, kana and Hangul. */
function characterClass(c: string): Exclude<TokenClass, 'mixed'> {
  // U+FFFD stands for bytes that are not a character alone (Unicode counts it a symbol).
  if (c === '\uFFFD') return 'other';
  if (/\p{Nd}/u.test(c)) return 'digits';
  if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u.test(c)) return 'CJK';
  if (/\p{L}/u.test(c)) return 'letters';
  if (/[\p{P}\p{S}]/u.test(c)) return 'punctuation';
  if (/\s/u.test(c)) return 'whitespace';
  return 'other';
}

/** The class of a token's text; undefined for a token without text. U+FFFD (bytes of a split character) is "other". */
export function tokenClass(text: string): TokenClass | undefined {
  if (text.length === 0) return undefined;
  const body = /^ \S/u.test(text) ? text.slice(1) : text;
  let found: TokenClass | undefined;
  for (const c of body) {
    const cls = characterClass(c);
    if (found === undefined) found = cls;
    else if (found !== cls) return 'mixed';
  }
  return found;
}

/**
 * The classes `synth --planted` wires to experts: tokens that are ASCII digits, or ASCII punctuation and
 * symbols, after one leading space (synth reads them off the vocabulary, where that space is "Ġ" or "▁").
 */
export type PlantedClass = 'digit' | 'punct';

export function plantedClass(text: string): PlantedClass | undefined {
  const body = text.startsWith(' ') ? text.slice(1) : text;
  if (/^[0-9]+$/.test(body)) return 'digit';
  if (/^[!-/:-@[-`{-~]+$/.test(body)) return 'punct';
  return undefined;
}

/**
 * Per layer and expert, the tokens of each class routed there (each of a token's K choices counts once),
 * for some layers. `classOf[t]` is an index into tokenClasses, -1 for a token without class.
 */
export class TokenClassCounter implements RoutingAccumulator {
  /** [layers.length][E * classes] counts. */
  readonly counts: Float64Array[];

  constructor(
    private readonly classOf: Int8Array,
    private readonly L: number,
    private readonly K: number,
    private readonly E: number,
    private readonly layers: number[],
  ) {
    this.counts = layers.map(() => new Float64Array(E * tokenClasses.length));
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    const { L, K, classOf } = this;
    const C = tokenClasses.length;
    for (let i = 0; i < tokens; i++) {
      const cls = classOf[start + i];
      if (cls < 0) continue;
      this.layers.forEach((l, d) => {
        const counts = this.counts[d];
        for (let k = 0; k < K; k++) counts[ids[(i * L + l) * K + k] * C + cls] += 1;
      });
    }
  }

  /** The share of each class among all (token, expert) choices of the layer: the mix an expert would get by chance. */
  overall(d: number): number[] {
    const C = tokenClasses.length;
    const sums = new Array<number>(C).fill(0);
    this.counts[d].forEach((x, i) => (sums[i % C] += x));
    const total = sums.reduce((s, x) => s + x, 0);
    return sums.map((x) => (total > 0 ? x / total : 0));
  }

  /** Per expert, the share of its classed tokens in each class (tokenClasses order); all 0 for an expert without any. */
  shares(d: number): number[][] {
    const C = tokenClasses.length;
    return Array.from({ length: this.E }, (_, e) => {
      const row = Array.from(this.counts[d].subarray(e * C, (e + 1) * C));
      const total = row.reduce((s, x) => s + x, 0);
      return row.map((x) => (total > 0 ? x / total : 0));
    });
  }
}
