/**
 * Finding a WiC target word among a sentence's model tokens, in two steps:
 *  1. text: the WiC index names a whitespace token ("bank," "(banks)" "bank's"); the word is the stretch of
 *     letters and digits in it that looks like the lemma, as UTF-8 byte offsets of the sentence;
 *  2. tokens: the model tokens whose byte spans overlap that stretch ("Ġbank" counts although it starts
 *     with the space before the word).
 * Byte offsets are what the tokenizer and the trace record, so the two steps meet without re-tokenizing.
 */

/** [start, end) UTF-8 byte offsets into a sentence. */
export type ByteSpan = [number, number];

/** A result, or why there is none (the caller adds the file and line). */
export type Located<T> = { found: T } | { problem: string };

/** A word's letters and digits, with combining marks so a decomposed "café" stays one stretch. */
const wordCharacters = /[\p{L}\p{N}\p{M}]+/gu;
const wordCharacter = /[\p{L}\p{N}\p{M}]/u;

/** The lemma prefix a stretch must start with to count as an inflected form ("run" for "running"). */
const lemmaPrefixLength = 3;

/**
 * The target word's byte span in `sentence`, where `wordIndex` counts whitespace-separated tokens from 0
 * (as Python's str.split() does: runs of whitespace separate, leading and trailing whitespace is ignored).
 *
 * Within the whitespace token: the longest stretch of letters/digits that starts with the lemma's first
 * characters (case-insensitively: "Banks" for "bank", "known" in "well-known" for "know"); failing that, as
 * for irregular forms ("ran" for "run", "mice" for "mouse"), the token from its first to its last letter/digit.
 */
export function locateWordBytes(sentence: string, wordIndex: number, lemma: string): Located<ByteSpan> {
  const tokens = [...sentence.matchAll(/\S+/gu)];
  if (wordIndex >= tokens.length) {
    return { problem: `whitespace token ${wordIndex} does not exist (the sentence has ${tokens.length}, numbered from 0)` };
  }
  const token = tokens[wordIndex];
  const stretch = lemmaStretch(token[0], lemma) ?? alphanumericCore(token[0]);
  if (!stretch) return { problem: `whitespace token ${wordIndex} ${JSON.stringify(token[0])} has no letters or digits` };
  const start = token.index + stretch[0];
  return { found: [utf8Length(sentence.slice(0, start)), utf8Length(sentence.slice(0, token.index + stretch[1]))] };
}

/**
 * The model tokens [first, last] (indices into `spans`, inclusive) whose bytes overlap `word`. Empty spans
 * (an added BOS) overlap nothing. No tokens, or tokens that stop before the word ends (a sentence cut at the
 * model's length limit), give undefined.
 */
export function overlappingTokens(spans: ArrayLike<ByteSpan>, word: ByteSpan): [number, number] | undefined {
  const [wordStart, wordEnd] = word;
  let first = -1;
  let last = -1;
  for (let t = 0; t < spans.length; t++) {
    const [start, end] = spans[t];
    if (end > start && start < wordEnd && end > wordStart) {
      if (first < 0) first = t;
      last = t;
    }
  }
  if (first < 0 || spans[last][1] < wordEnd) return undefined;
  return [first, last];
}

/** Byte spans of consecutive tokens from their byte lengths (a prompt's tokens tile its bytes in order). */
export function spansFromLengths(lengths: ArrayLike<number>): ByteSpan[] {
  const spans: ByteSpan[] = [];
  let pos = 0;
  for (let t = 0; t < lengths.length; t++) {
    spans.push([pos, pos + lengths[t]]);
    pos += lengths[t];
  }
  return spans;
}

/** [start, end) UTF-16 offsets in `token` of its longest lemma-like stretch; the first of equally long ones. */
function lemmaStretch(token: string, lemma: string): [number, number] | undefined {
  const prefix = [...lemma.toLowerCase()].slice(0, lemmaPrefixLength).join('');
  let best: [number, number] | undefined;
  for (const stretch of token.matchAll(wordCharacters)) {
    if (!stretch[0].toLowerCase().startsWith(prefix)) continue;
    const length = stretch[0].length;
    if (!best || length > best[1] - best[0]) best = [stretch.index, stretch.index + length];
  }
  return best;
}

/** [start, end) UTF-16 offsets from the token's first to its last letter/digit, keeping what lies between ("o'clock"). */
export function alphanumericCore(token: string): [number, number] | undefined {
  const characters = [...token];
  const first = characters.findIndex((c) => wordCharacter.test(c));
  if (first < 0) return undefined;
  let last = characters.length - 1;
  while (!wordCharacter.test(characters[last])) last--;
  const offset = (count: number) => characters.slice(0, count).join('').length;
  return [offset(first), offset(last + 1)];
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
