import { InputError } from '../errors.js';
import { countWords, learnMerges, pairKeyBase } from './bpe-merges.js';
import { bpeModelJson, specialTokensJson, tokenizerConfigJson, trainerDefaults, type TokenizerConfigJson, type TokenizerJson } from './bpe-trainer.js';

/**
 * A small deterministic SentencePiece-style BPE trainer producing a Mistral/Mixtral-style tokenizer.json.
 *
 * Ids: 0 `<unk>`, 1 `<s>` (BOS), 2 `</s>` (EOS), then the byte-fallback tokens `<0x00>`..`<0xFF>` (ids 3..258),
 * then the learned characters (`▁` first, the rest most frequent first), then merged pieces in the order learned.
 * A character outside the learned alphabet (the corpus never had it, or it did not fit in vocabSize) is encoded
 * as the byte tokens of its UTF-8 bytes.
 *
 * Spaces: Mixtral-8x7B's tokenizer.json comes in two forms. The older one (also Llama 2's) spells spaces in the
 * normalizer, Sequence[Prepend("▁"), Replace(" ", "▁")], with no pre-tokenizer and the decoder
 * Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]; the newer one has no normalizer and a
 * Metaspace pre-tokenizer (prepend_scheme "first", split false). This trainer writes the older form: both load in
 * @huggingface/tokenizers 0.2.0, but its Metaspace (like Rust's) prepends `▁` only when the text does not already
 * start with one, so " hi" and "hi" both encode as `▁hi` and a leading space or `▁` cannot be decoded back, while
 * the normalizer form always prepends, and Strip(" ", 1, 0) removes exactly that one space when decoding.
 *
 * Training reads the corpus as SentencePiece does: each line is a sentence, normalized as above. Numeric
 * characters never merge (Llama's split_digits), so each digit is always one token, as with the byte-level
 * trainer. Words start at a run of `▁` (SentencePiece's whitespace split), so no merge spans two words.
 */

export const unkToken = '<unk>';
export const bosToken = '<s>';
export const eosToken = '</s>';

const metaspace = '▁';
const specialTokens = [unkToken, bosToken, eosToken];
const byteTokens = Array.from({ length: 256 }, (_, byte) => `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
/** The smallest vocabulary: the special tokens, the byte tokens and `▁`. */
const minVocabSize = specialTokens.length + byteTokens.length + 1;

/** Added tokens are cut out of the text before the normalizer runs, so training never sees them either. */
const specialTokenText = /<unk>|<s>|<\/s>/u;
const numericChar = /\p{N}/u;
/** A word: a run of `▁` with the characters up to the next one, or the characters before the first `▁`. */
const sentencePieceWord = /▁+[^▁]*|[^▁]+/gu;

export function trainMetaspaceBpe(
  corpus: string,
  options: { vocabSize?: number; modelMaxLength?: number } = {},
): { tokenizer: TokenizerJson; tokenizerConfig: TokenizerConfigJson } {
  const { vocabSize = trainerDefaults.vocabSize, modelMaxLength = trainerDefaults.modelMaxLength } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < minVocabSize || vocabSize > pairKeyBase) {
    throw new InputError(`invalid vocabSize: ${vocabSize} (expected an integer from ${minVocabSize}, <unk> <s> </s> + 256 bytes + ▁, to ${pairKeyBase})`, 'bpe-vocab-size');
  }
  const sentences = normalizedSentences(corpus);
  const alphabet = learnAlphabet(sentences, vocabSize - specialTokens.length - byteTokens.length);
  const tokens = [...specialTokens, ...byteTokens, ...alphabet];
  const characterIds = new Map(alphabet.map((char, i) => [char, specialTokens.length + byteTokens.length + i]));
  const merges = learnMerges(countWords(trainingWords(sentences, characterIds), characterIds), tokens, vocabSize);

  const bos = { SpecialToken: { id: bosToken, type_id: 0 } };
  const tokenizer: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokensJson(specialTokens),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: metaspace },
        { type: 'Replace', pattern: { String: ' ' }, content: metaspace },
      ],
    },
    pre_tokenizer: null,
    // Llama's: BOS before each sequence, for callers that encode with special tokens.
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bosToken, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bosToken]: { id: bosToken, ids: [1], tokens: [bosToken] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: metaspace }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: bpeModelJson(tokens, merges, unkToken),
  };
  const tokenizerConfig = tokenizerConfigJson({ bos: bosToken, eos: eosToken, unk: unkToken }, modelMaxLength);
  return { tokenizer, tokenizerConfig };
}

/** Each line's text between special tokens, as the normalizer writes it: `▁` prepended, spaces made `▁`. */
function normalizedSentences(corpus: string): string[] {
  return corpus
    .split('\n')
    .flatMap((line) => line.split(specialTokenText))
    .filter((section) => section.length > 0)
    .map((section) => metaspace + section.replaceAll(' ', metaspace));
}

/** `▁`, then as many of the other characters as fit in `room`, most frequent first (ties: lower code point). */
function learnAlphabet(sentences: string[], room: number): string[] {
  const counts = new Map<string, number>();
  for (const sentence of sentences) for (const char of sentence) if (char !== metaspace) counts.set(char, (counts.get(char) ?? 0) + 1);
  const byFrequency = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || a.codePointAt(0)! - b.codePointAt(0)!);
  return [metaspace, ...byFrequency.slice(0, room - 1)];
}

/** The words merges are learned from: runs of characters that may merge, cut at digits and unlearned characters. */
function* trainingWords(sentences: string[], characterIds: ReadonlyMap<string, number>): Generator<string> {
  for (const sentence of sentences) {
    let run = '';
    // The trailing '' is no character: it ends the last run.
    for (const char of [...sentence, '']) {
      if (characterIds.has(char) && !numericChar.test(char)) {
        run += char;
        continue;
      }
      for (const [word] of run.matchAll(sentencePieceWord)) yield word;
      run = '';
    }
  }
}
