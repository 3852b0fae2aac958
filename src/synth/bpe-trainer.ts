import { InputError } from '../errors.js';
import { BYTE_TO_CHAR, bytesToByteLevel } from '../loaders/byte-level.js';
import { countWords, learnMerges, pairKeyBase } from './bpe-merges.js';

/**
 * A small deterministic byte-level BPE trainer for synthetic checkpoints, producing the tokenizer.json that
 * Hugging Face tokenizers (Rust and @huggingface/tokenizers) load.
 *
 * Ids: 0 is BOS `<｜begin▁of▁sentence｜>` and 1 is EOS `<｜end▁of▁sentence｜>` (as in DeepSeek's tokenizers),
 * 2 + b is the single byte b (all 256, so any text encodes), and merged tokens follow in the order learned.
 *
 * Pre-tokenization: every numeric character is its own piece (so each digit is always exactly one token, which
 * `synth --planted` relies on), then GPT-2's regex splits words with their leading space, then bytes are written
 * in GPT-2's alphabet. The merges are learned over those pieces by bpe-merges.ts.
 */

export const trainerDefaults = {
  vocabSize: 4096,
  /** transformers' cap on prompt length; DeepSeekMoE 16B's value. */
  modelMaxLength: 16384,
};

export const bosToken = '<｜begin▁of▁sentence｜>';
export const eosToken = '<｜end▁of▁sentence｜>';

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

/** The subset of the tokenizer.json schema the trainers write. */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: object | null;
  pre_tokenizer: object | null;
  post_processor: object;
  decoder: object;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: string | null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    /** Token string → id (in id order, except that JS lists the keys "0".."9" first). */
    vocab: Record<string, number>;
    /** "left right" in the order learned (tokens never hold a space: byte-level writes it Ġ, SentencePiece ▁). */
    merges: string[];
  };
}

export interface TokenizerConfigJson {
  add_bos_token: boolean;
  add_eos_token: boolean;
  bos_token: string;
  eos_token: string;
  /** Explicit null when the vocabulary has none: LlamaTokenizerFast would otherwise add an `<unk>` token to it. */
  unk_token: string | null;
  clean_up_tokenization_spaces: boolean;
  model_max_length: number;
  tokenizer_class: string;
}

/** Added-token entries for special tokens holding ids 0, 1, ... in the order given. */
export function specialTokensJson(contents: string[]): AddedTokenJson[] {
  return contents.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
}

/**
 * tokenizer.json's BPE model for `tokens` (ids in order) and the merges learned. With an unknown token, characters
 * outside the vocabulary fall back to their `<0xNN>` byte tokens (SentencePiece style); without, every byte is a token.
 */
export function bpeModelJson(tokens: string[], merges: Array<[number, number]>, unkToken: string | null): TokenizerJson['model'] {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: unkToken,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: unkToken !== null,
    byte_fallback: unkToken !== null,
    vocab: Object.fromEntries(tokens.map((token, id) => [token, id])),
    merges: merges.map(([left, right]) => `${tokens[left]} ${tokens[right]}`),
  };
}

/** tokenizer_config.json of a trained tokenizer: BOS added, no EOS, loaded by LlamaTokenizerFast. */
export function tokenizerConfigJson(specials: { bos: string; eos: string; unk: string | null }, modelMaxLength: number): TokenizerConfigJson {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: specials.bos,
    eos_token: specials.eos,
    unk_token: specials.unk,
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    tokenizer_class: 'LlamaTokenizerFast',
  };
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
  const byteIds = new Map(BYTE_TO_CHAR.map((char, byte) => [char, 2 + byte]));
  const merges = learnMerges(countWords(preTokenize(corpus), byteIds), tokens, vocabSize);
  const tokenizer: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokensJson([bosToken, eosToken]),
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
    model: bpeModelJson(tokens, merges, null),
  };
  const tokenizerConfig = tokenizerConfigJson({ bos: bosToken, eos: eosToken, unk: null }, modelMaxLength);
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
