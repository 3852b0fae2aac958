import { InputError } from '../errors.js';
import { BYTE_TO_CHAR, bytesToByteLevel } from '../loaders/byte-level.js';

/**
 * A small deterministic byte-level BPE trainer for synthetic checkpoints, producing the tokenizer.json that
 * Hugging Face tokenizers (Rust and @huggingface/tokenizers) load.
 *
 * Ids: 0 is BOS `<｜begin▁of▁sentence｜>` and 1 is EOS `<｜end▁of▁sentence｜>` (as in DeepSeek's tokenizers),
 * 2 + b is the single byte b (all 256, so any text encodes), and merged tokens follow in the order learned.
 *
 * Pre-tokenization: every numeric character is its own piece (so each digit is always exactly one token, which
 * `synth --planted` relies on), then GPT-2's regex splits words with their leading space, then bytes are written
 * in GPT-2's alphabet. Training repeatedly merges the most frequent adjacent pair (ties: the pair of smaller ids,
 * as the Rust trainer does) until the vocabulary is full or no pair occurs twice. Pair counts are updated
 * incrementally, only in the words that hold the merged pair, with a lazily corrected max-heap of pairs.
 */

export const trainerDefaults = {
  vocabSize: 4096,
  /** transformers' cap on prompt length; DeepSeekMoE 16B's value. */
  modelMaxLength: 16384,
};

export const bosToken = '<｜begin▁of▁sentence｜>';
export const eosToken = '<｜end▁of▁sentence｜>';

/** A pair seen only once teaches nothing about the corpus; merging it would only memorise a word. */
const minPairCount = 2;
/** Pairs are keyed as left * pairKeyBase + right, so ids must stay below it. */
const pairKeyBase = 2 ** 20;

/** Matches the tokenizer.json pre-tokenizer below: a Split on each numeric character, then ByteLevel's regex. */
const numericChar = /\p{N}/gu;
const gpt2Words = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The subset of the tokenizer.json schema this trainer writes. */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: null;
  pre_tokenizer: object;
  post_processor: object;
  decoder: object;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    /** Token string → id (in id order, except that JS lists the keys "0".."9" first). */
    vocab: Record<string, number>;
    /** "left right" in the order learned (byte-level tokens never hold a space). */
    merges: string[];
  };
}

export interface TokenizerConfigJson {
  add_bos_token: boolean;
  add_eos_token: boolean;
  bos_token: string;
  eos_token: string;
  /** Explicit null: LlamaTokenizerFast would otherwise add an `<unk>` token to the vocabulary. */
  unk_token: null;
  clean_up_tokenization_spaces: boolean;
  model_max_length: number;
  tokenizer_class: string;
}

export function trainByteLevelBpe(
  corpus: string,
  options: { vocabSize?: number; modelMaxLength?: number } = {},
): { tokenizer: TokenizerJson; tokenizerConfig: TokenizerConfigJson } {
  const { vocabSize = trainerDefaults.vocabSize, modelMaxLength = trainerDefaults.modelMaxLength } = options;
  const baseSize = 2 + 256;
  if (!Number.isInteger(vocabSize) || vocabSize < baseSize || vocabSize > pairKeyBase) {
    throw new InputError(`invalid vocabSize: ${vocabSize} (expected an integer from ${baseSize}, BOS + EOS + 256 bytes, to ${pairKeyBase})`, 'bpe-vocab-size');
  }
  const tokens = [bosToken, eosToken, ...BYTE_TO_CHAR];
  const merges = learnMerges(countWords(corpus), tokens, vocabSize);
  const specials = [bosToken, eosToken].map((content, id) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  const tokenizer: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\p{N}' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(tokens.map((token, id) => [token, id])),
      merges: merges.map(([left, right]) => `${tokens[left]} ${tokens[right]}`),
    },
  };
  const tokenizerConfig: TokenizerConfigJson = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: bosToken,
    eos_token: eosToken,
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    tokenizer_class: 'LlamaTokenizerFast',
  };
  return { tokenizer, tokenizerConfig };
}

/** The pre-tokenizer's pieces of `text`, in GPT-2's byte alphabet. */
export function preTokenize(text: string): string[] {
  const encoder = new TextEncoder();
  const pieces: string[] = [];
  for (const section of splitIsolated(text, numericChar)) {
    for (const [word] of section.matchAll(gpt2Words)) pieces.push(bytesToByteLevel(encoder.encode(word)));
  }
  return pieces;
}

/** Splits text around each match, keeping the matches as pieces of their own (tokenizers' "Isolated"). */
function splitIsolated(text: string, pattern: RegExp): string[] {
  const pieces: string[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) pieces.push(text.slice(last, match.index));
    pieces.push(match[0]);
    last = match.index + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

interface Word {
  /** Token ids, starting as one per byte. */
  symbols: number[];
  count: number;
}

function countWords(corpus: string): Word[] {
  const counts = new Map<string, number>();
  for (const piece of preTokenize(corpus)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  const byteId = new Map(BYTE_TO_CHAR.map((char, byte) => [char, 2 + byte]));
  return [...counts].map(([piece, count]) => ({ symbols: Array.from(piece, (char) => byteId.get(char)!), count }));
}

/**
 * Learns merges until `tokens` (extended in place with the merged strings) reaches vocabSize.
 * Returns the merges as [left id, right id] in the order learned.
 */
function learnMerges(words: Word[], tokens: string[], vocabSize: number): Array<[number, number]> {
  const pairCounts = new Map<number, number>();
  /** Words that held the pair when it was counted (entries may be stale: checked before use). */
  const pairWords = new Map<number, Set<number>>();
  const heap = new PairHeap();
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.symbols.length; i++) {
      const key = word.symbols[i] * pairKeyBase + word.symbols[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + word.count);
      holdersOf(pairWords, key).add(w);
    }
  });
  for (const [key, count] of pairCounts) heap.push(count, key);

  const idOf = new Map(tokens.map((token, id) => [token, id]));
  const merges: Array<[number, number]> = [];
  while (tokens.length < vocabSize) {
    const best = heap.pop();
    if (!best) break;
    const current = pairCounts.get(best.key) ?? 0;
    if (current !== best.count) {
      if (current > 0) heap.push(current, best.key); // a stale entry: re-queue the pair at its true count
      continue;
    }
    if (current < minPairCount) break;

    const left = Math.floor(best.key / pairKeyBase);
    const right = best.key % pairKeyBase;
    const merged = tokens[left] + tokens[right];
    // Two different merges can spell the same string ("ab"+"c", "a"+"bc"); the token is then shared.
    let id = idOf.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      idOf.set(merged, id);
    }
    merges.push([left, right]);

    const delta = new Map<number, number>();
    for (const w of pairWords.get(best.key) ?? []) {
      const word = words[w];
      const replaced = mergeSymbols(word.symbols, left, right, id);
      if (!replaced) continue;
      addPairCounts(word.symbols, -word.count, delta);
      word.symbols = replaced;
      addPairCounts(word.symbols, word.count, delta);
      for (let i = 0; i + 1 < replaced.length; i++) holdersOf(pairWords, replaced[i] * pairKeyBase + replaced[i + 1]).add(w);
    }
    for (const [key, change] of delta) {
      if (change === 0) continue;
      const count = (pairCounts.get(key) ?? 0) + change;
      if (count > 0) pairCounts.set(key, count);
      else pairCounts.delete(key);
      if (change > 0) heap.push(count, key);
    }
    pairCounts.delete(best.key);
    pairWords.delete(best.key);
  }
  return merges;
}

/** The word with every non-overlapping (left, right), scanned left to right, replaced by `id`; undefined if none. */
function mergeSymbols(symbols: number[], left: number, right: number, id: number): number[] | undefined {
  const out: number[] = [];
  let found = false;
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(id);
      i++;
      found = true;
    } else {
      out.push(symbols[i]);
    }
  }
  return found ? out : undefined;
}

function addPairCounts(symbols: number[], count: number, delta: Map<number, number>): void {
  for (let i = 0; i + 1 < symbols.length; i++) {
    const key = symbols[i] * pairKeyBase + symbols[i + 1];
    delta.set(key, (delta.get(key) ?? 0) + count);
  }
}

function holdersOf(pairWords: Map<number, Set<number>>, key: number): Set<number> {
  let holders = pairWords.get(key);
  if (!holders) pairWords.set(key, (holders = new Set()));
  return holders;
}

/** Max-heap of (count, pair key); among equal counts the smaller key (smaller left id, then right id) comes first. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } | undefined {
    if (this.counts.length === 0) return undefined;
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.counts.length && this.before(l, best)) best = l;
        if (r < this.counts.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    return this.counts[a] > this.counts[b] || (this.counts[a] === this.counts[b] && this.keys[a] < this.keys[b]);
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b], this.counts[a]];
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
  }
}
