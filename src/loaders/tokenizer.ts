import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { fileError, InputError } from '../errors.js';
import { byteLevelToBytes } from './byte-level.js';
import { readJsonObject, type JsonFileCodes } from './json-file.js';

/**
 * A checkpoint's Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) wrapped to give what routing
 * needs: token ids, and the exact UTF-8 bytes of the prompt each token covers.
 *
 * @huggingface/tokenizers returns token strings but no offsets, so offsets are rebuilt here by spelling each
 * token string back into bytes and walking the prompt's bytes alongside:
 *  - byte-level BPE (GPT-2, DeepSeek): each character of a token is one byte in GPT-2's alphabet, so a
 *    character split across tokens (emoji, CJK) still gets exact byte spans;
 *  - SentencePiece-style BPE or Unigram (Llama 2, Mixtral): `▁` is a space and `<0xNN>` is a fallback byte;
 *  - added tokens (`<｜begin▁of▁sentence｜>` typed in a prompt) spell their own content.
 * Three kinds of text the tokenizer adds or drops are absorbed: a space prepended to a section (`▁Hello` or
 * `ĠHello` for "Hello"), and whitespace stripped next to an added token with lstrip/rstrip or by a Strip
 * normalizer (given to the following token, or the last one at the end). A ByteLevel or Metaspace
 * pre-tokenizer prepends its space only to a section that does not already start with one, so a leading space
 * is matched to the text when it can be; a Prepend("▁") normalizer (Llama 2, the older Mixtral tokenizer.json)
 * prepends it to every section, so there the first token's `▁` is taken as the prepended one even when the
 * text starts with a space or a `▁` (" hi" is `▁` `▁hi`, and the text's space belongs to `▁hi`).
 */

export interface EncodedPrompt {
  ids: number[];
  /** [start, end) UTF-8 byte offsets of each token in the prompt; [s, s] (empty) for an added BOS or other special token
   *  (or a space the tokenizer itself inserted, e.g. SentencePiece's lone `▁`).
   *  The non-empty spans of a prompt tile its bytes exactly, in order. */
  byteSpans: Array<[number, number]>;
}

/** The two files a tokenizer is read from, named in error messages. */
export interface TokenizerFiles {
  tokenizer: string;
  config: string;
}

/** transformers' Llama tokenizer classes add BOS unless the config's add_bos_token says otherwise. */
const bosByDefaultClasses = new Set(['LlamaTokenizer', 'LlamaTokenizerFast', 'CodeLlamaTokenizer', 'CodeLlamaTokenizerFast']);

const SPACE = Uint8Array.of(0x20);
const METASPACE = new TextEncoder().encode('▁');
const byteFallbackToken = /^<0x([0-9A-Fa-f]{2})>$/;

/**
 * How a token is written in the prompt: a list of steps, each a set of byte strings any one of which may stand
 * there (a SentencePiece `▁` is usually a space but may be a literal `▁` typed in the prompt).
 */
type Spelling = Uint8Array[][];

/** Whether token strings are in GPT-2's byte alphabet or SentencePiece's `▁` + `<0xNN>` convention. */
type Alphabet = 'byte-level' | 'sentencepiece';

export class PromptTokenizer {
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** Whether encode adds BOS when not told otherwise. */
  readonly addBos: boolean;
  /** Highest token id + 1 (added tokens included). */
  readonly vocabSize: number;

  private readonly alphabet: Alphabet;
  /** Whether a normalizer puts `▁` before every section of text, whatever the section starts with. */
  private readonly alwaysPrependsMetaspace: boolean;
  /** Added tokens by content: they are matched in the text before the model runs and spell themselves. */
  private readonly addedContents: Set<string>;
  private readonly specialIds: Set<number>;
  private readonly spellings = new Map<string, Spelling>();

  private constructor(
    private readonly library: Tokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    private readonly files: TokenizerFiles,
  ) {
    const added = library.get_added_tokens_decoder();
    this.addedContents = new Set([...added.values()].map((token) => token.content));
    this.alphabet = usesByteLevel(tokenizerJson.pre_tokenizer) || usesByteLevel(tokenizerJson.decoder) ? 'byte-level' : 'sentencepiece';
    this.alwaysPrependsMetaspace = prependsMetaspace(tokenizerJson.normalizer);
    let highestId = -1;
    for (const id of library.get_vocab().values()) highestId = Math.max(highestId, id);
    this.vocabSize = highestId + 1;

    // What the post-processor puts in front of a text, e.g. Llama's TemplateProcessing adds `<s>`. Without a
    // tokenizer_config.json this is the only place that says which BOS a tokenizer uses.
    const templateFront = library.encode('', { add_special_tokens: true }).ids[0] as number | undefined;
    this.bosId = this.specialTokenId(config, 'bos_token') ?? (templateFront !== undefined && added.has(templateFront) ? templateFront : undefined);
    this.eosId = this.specialTokenId(config, 'eos_token');

    const addBos = config.add_bos_token;
    if (addBos !== undefined && addBos !== null && typeof addBos !== 'boolean') {
      throw fileError(files.config, 'tokenizer-config-field', `add_bos_token must be true or false, found ${JSON.stringify(addBos)}`);
    }
    const classDefault = typeof config.tokenizer_class === 'string' && bosByDefaultClasses.has(config.tokenizer_class);
    this.addBos = addBos ?? (this.bosId !== undefined && (classDefault || templateFront === this.bosId));
    if (this.addBos && this.bosId === undefined) {
      throw fileError(files.config, 'tokenizer-no-bos', 'add_bos_token is true but no bos_token is set');
    }
    this.specialIds = new Set([...added.values()].filter((token) => token.special).map((token) => token.id));
    for (const id of [this.bosId, this.eosId]) if (id !== undefined) this.specialIds.add(id);
  }

  /** Reads MODEL_DIR/tokenizer.json and, if present, MODEL_DIR/tokenizer_config.json. */
  static load(modelDir: string): PromptTokenizer {
    const files = { tokenizer: path.join(modelDir, 'tokenizer.json'), config: path.join(modelDir, 'tokenizer_config.json') };
    const tokenizerJson = readJsonObject(files.tokenizer, jsonCodes('tokenizer'), tokenizerMissing);
    const config = fs.existsSync(files.config) ? readJsonObject(files.config, jsonCodes('tokenizer-config'), tokenizerMissing) : {};
    return PromptTokenizer.fromJson(tokenizerJson, config, files);
  }

  /** Builds a tokenizer from already-parsed JSON (a generated tokenizer, or tests); `files` name them in errors. */
  static fromJson(
    tokenizerJson: unknown,
    config: unknown = {},
    files: TokenizerFiles = { tokenizer: 'tokenizer.json', config: 'tokenizer_config.json' },
  ): PromptTokenizer {
    if (!isObject(tokenizerJson)) throw fileError(files.tokenizer, 'tokenizer-not-object', 'expected a JSON object');
    if (!isObject(config)) throw fileError(files.config, 'tokenizer-config-not-object', 'expected a JSON object');
    const model = tokenizerJson.model;
    if (!isObject(model) || (model.type !== 'BPE' && model.type !== 'Unigram')) {
      const found = isObject(model) ? JSON.stringify(model.type) : 'no model object';
      throw fileError(files.tokenizer, 'tokenizer-model', `model.type must be "BPE" or "Unigram" (tokens that spell their text), found ${found}`);
    }
    // tokenizers' own serializer always writes these keys (null when unused); the library insists on them.
    const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
    let library: Tokenizer;
    try {
      library = new Tokenizer(complete, config);
    } catch (error) {
      throw fileError(files.tokenizer, 'tokenizer-invalid', `@huggingface/tokenizers cannot load it: ${(error as Error).message}`, error);
    }
    return new PromptTokenizer(library, complete, config, files);
  }

  /** Adds BOS when `addBos` (default: this.addBos) is true, unless the prompt itself starts with the BOS token. */
  encode(text: string, options: { addBos?: boolean } = {}): EncodedPrompt {
    const { addBos = this.addBos } = options;
    const { ids, tokens } = this.library.encode(text, { add_special_tokens: false });
    const byteSpans = this.alignToText(text, tokens, ids);
    if (addBos) {
      if (this.bosId === undefined) throw fileError(this.files.config, 'tokenizer-no-bos', 'a BOS token was asked for but the tokenizer has no bos_token');
      if (ids[0] !== this.bosId) {
        ids.unshift(this.bosId);
        byteSpans.unshift([0, 0]);
      }
    }
    return { ids, byteSpans };
  }

  /** The vocabulary string of a token (byte-level tokens in GPT-2's alphabet, e.g. `Ġbank`). */
  tokenString(id: number): string {
    const token = this.library.id_to_token(id);
    if (token === undefined) throw fileError(this.files.tokenizer, 'token-id-range', `token id ${id} is not in the vocabulary (ids 0 to ${this.vocabSize - 1})`);
    return token;
  }

  /** Added tokens flagged special, plus BOS and EOS. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Resolves `bos_token` / `eos_token` (a string or `{content}`) to an id; undefined when unset. */
  private specialTokenId(config: Record<string, unknown>, field: 'bos_token' | 'eos_token'): number | undefined {
    const value = config[field];
    if (value === undefined || value === null) return undefined;
    const content = typeof value === 'string' ? value : isObject(value) && typeof value.content === 'string' ? value.content : undefined;
    if (content === undefined) {
      throw fileError(this.files.config, 'tokenizer-config-field', `${field} must be a string or {"content": string}, found ${JSON.stringify(value)}`);
    }
    const id = this.library.token_to_id(content);
    if (id === undefined) throw fileError(this.files.config, 'tokenizer-special-token', `${field} ${JSON.stringify(content)} is not in ${path.basename(this.files.tokenizer)}'s vocabulary`);
    return id;
  }

  /** Walks the prompt's bytes token by token; see the file comment for what may be skipped. */
  private alignToText(text: string, tokens: string[], ids: number[]): Array<[number, number]> {
    const bytes = new TextEncoder().encode(text);
    const spans: Array<[number, number]> = [];
    let whitespaceEnds: Map<number, number> | undefined;
    let pos = 0;
    tokens.forEach((token, i) => {
      if (ids[i] === undefined) {
        throw fileError(this.files.tokenizer, 'tokenizer-unknown-token', `token ${JSON.stringify(token)} has no id (no unk_token to stand in for it)`);
      }
      const spelling = this.spell(token);
      // A section of text starts the prompt or follows an added token (they are cut out before normalizing).
      const startsSection = i === 0 || this.addedContents.has(tokens[i - 1]);
      const spaceIsPrepended = startsSection && this.alwaysPrependsMetaspace;
      let end = matchSpelling(bytes, pos, spelling, spaceIsPrepended);
      if (end === undefined) {
        whitespaceEnds ??= whitespaceRuns(text);
        const afterGap = whitespaceEnds.get(pos);
        if (afterGap !== undefined) end = matchSpelling(bytes, afterGap, spelling, spaceIsPrepended);
      }
      if (end === undefined) throw this.mismatch(bytes, pos, token, ids[i]);
      spans.push([pos, end]);
      pos = end;
    });
    if (pos < bytes.length) {
      let last = spans.length - 1;
      while (last >= 0 && spans[last][0] === spans[last][1]) last--;
      whitespaceEnds ??= whitespaceRuns(text);
      if (last < 0 || whitespaceEnds.get(pos) !== bytes.length) throw this.mismatch(bytes, pos, undefined, undefined);
      spans[last][1] = bytes.length;
    }
    return spans;
  }

  private spell(token: string): Spelling {
    let spelling = this.spellings.get(token);
    if (spelling) return spelling;
    spelling = this.addedContents.has(token) ? [[new TextEncoder().encode(token)]] : this.alphabet === 'byte-level' ? spellByteLevel(token) : spellSentencePiece(token);
    if (!spelling) throw fileError(this.files.tokenizer, 'tokenizer-alphabet', `token ${JSON.stringify(token)} has characters outside the byte-level alphabet`);
    this.spellings.set(token, spelling);
    return spelling;
  }

  private mismatch(bytes: Uint8Array, pos: number, token: string | undefined, id: number | undefined): InputError {
    const context = JSON.stringify(new TextDecoder().decode(bytes.subarray(pos, pos + 24)));
    const what = token === undefined ? 'the tokens end' : `token ${JSON.stringify(token)} (id ${id})`;
    return fileError(
      this.files.tokenizer,
      'tokenizer-offsets',
      `${what} does not match the prompt at byte ${pos} (text there: ${context}); byte offsets need a tokenizer that keeps the prompt's text (its normalizer may change it, or it drops unknown characters)`,
    );
  }
}

/** A byte-level token is its bytes; a leading space is a step of its own so a prepended one can be skipped. */
function spellByteLevel(token: string): Spelling | undefined {
  const bytes = byteLevelToBytes(token);
  if (!bytes) return undefined;
  if (bytes[0] !== 0x20) return [[bytes]];
  return bytes.length > 1 ? [[SPACE], [bytes.subarray(1)]] : [[SPACE]];
}

function spellSentencePiece(token: string): Spelling {
  const fallback = byteFallbackToken.exec(token);
  if (fallback) return [[Uint8Array.of(parseInt(fallback[1], 16))]];
  const encoder = new TextEncoder();
  const steps: Spelling = [];
  token.split('▁').forEach((part, i) => {
    if (i > 0) steps.push([SPACE, METASPACE]);
    if (part) steps.push([encoder.encode(part)]);
  });
  return steps;
}

/**
 * End of the match of `spelling` at `pos`, as written or without a leading space the tokenizer prepended (a
 * token that is only that space, like Llama's lone `▁` before a digit, then matches nothing). As written is
 * tried first unless the leading space is known to be prepended.
 */
function matchSpelling(bytes: Uint8Array, pos: number, spelling: Spelling, spaceIsPrepended: boolean): number | undefined {
  if (spelling[0]?.[0] !== SPACE) return matchSteps(bytes, pos, spelling, 0);
  const [first, second] = spaceIsPrepended ? [1, 0] : [0, 1];
  return matchSteps(bytes, pos, spelling, first) ?? matchSteps(bytes, pos, spelling, second);
}

function matchSteps(bytes: Uint8Array, pos: number, spelling: Spelling, from: number): number | undefined {
  for (let s = from; s < spelling.length; s++) {
    const option = spelling[s].find((candidate) => startsWithAt(bytes, pos, candidate));
    if (!option) return undefined;
    pos += option.length;
  }
  return pos;
}

function startsWithAt(bytes: Uint8Array, pos: number, part: Uint8Array): boolean {
  if (pos + part.length > bytes.length) return false;
  for (let i = 0; i < part.length; i++) if (bytes[pos + i] !== part[i]) return false;
  return true;
}

/** For each byte offset where a run of whitespace starts, the byte offset where the run ends. */
function whitespaceRuns(text: string): Map<number, number> {
  const ends = new Map<number, number>();
  const encoder = new TextEncoder();
  let pos = 0;
  let runStarts: number[] = [];
  for (const char of text) {
    if (/\s/u.test(char)) runStarts.push(pos);
    else {
      for (const start of runStarts) ends.set(start, pos);
      runStarts = [];
    }
    pos += encoder.encode(char).length;
  }
  for (const start of runStarts) ends.set(start, pos);
  return ends;
}

/** Whether the normalizer (or one in its Sequence) is Prepend("▁"), SentencePiece's dummy prefix. */
function prependsMetaspace(normalizer: unknown): boolean {
  if (!isObject(normalizer)) return false;
  if (normalizer.type === 'Prepend') return normalizer.prepend === '▁';
  return Array.isArray(normalizer.normalizers) && normalizer.normalizers.some(prependsMetaspace);
}

function usesByteLevel(component: unknown): boolean {
  if (!isObject(component)) return false;
  if (component.type === 'ByteLevel') return true;
  const children = component.pretokenizers ?? component.decoders;
  return Array.isArray(children) && children.some(usesByteLevel);
}

const tokenizerMissing = "no such file (the model folder must hold the checkpoint's tokenizer files)";

function jsonCodes(prefix: 'tokenizer' | 'tokenizer-config'): JsonFileCodes {
  return { missing: `${prefix}-missing`, json: `${prefix}-not-json`, object: `${prefix}-not-object` };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
