import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE, bytesToByteLevel } from '../src/loaders/byte-level.js';
import { PromptTokenizer, type EncodedPrompt } from '../src/loaders/tokenizer.js';
import { trainByteLevelBpe } from '../src/synth/bpe-trainer.js';
import { repoRoot } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const scratch = tempDir('tokenizer');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const utf8 = (text: string) => new TextEncoder().encode(text);
const hasCode = (code: string) => (error: unknown) => error instanceof InputError && error.code === code;

/** Checks the EncodedPrompt contract: non-empty spans are contiguous, in order, and cover the text exactly. */
function assertTiles(text: string, { ids, byteSpans }: EncodedPrompt): void {
  assert.equal(byteSpans.length, ids.length);
  let pos = 0;
  for (const [start, end] of byteSpans) {
    if (start === end) continue;
    assert.equal(start, pos, `span [${start}, ${end}) should start at ${pos} in ${JSON.stringify(text)}`);
    pos = end;
  }
  assert.equal(pos, utf8(text).length);
}

/**
 * A hand-written byte-level BPE: ids 0..255 are the bytes, then the merges t+h, th+e, Ġ+c, Ġc+a (ids 256..259),
 * then the added tokens <s> (260), </s> (261) and <mask> (262, lstrip like RoBERTa's).
 */
function byteLevelJson(postProcessor: object | null = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }) {
  const merged = ['th', 'the', 'Ġc', 'Ġca'];
  const vocab = Object.fromEntries([...BYTE_TO_CHAR, ...merged].map((token, id) => [token, id]));
  const added = (id: number, content: string, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });
  return {
    added_tokens: [added(260, '<s>'), added(261, '</s>'), added(262, '<mask>', true)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', unk_token: null, continuing_subword_prefix: null, byte_fallback: false, vocab, merges: ['t h', 'th e', 'Ġ c', 'Ġc a'] },
  };
}

const bosConfig = { add_bos_token: true, bos_token: '<s>', eos_token: '</s>' };

/**
 * A hand-written SentencePiece-style BPE with byte fallback (Mixtral's layout): <unk> <s> </s>, the 256 byte
 * tokens <0x00>..<0xFF> (ids 3..258), then ▁ h i ▁h ▁hi ! 1 (ids 259..265) with merges ▁+h, ▁h+i.
 */
function sentencePieceJson(spaces: 'metaspace' | 'normalizer') {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const vocab = Object.fromEntries(['<unk>', '<s>', '</s>', ...bytes, '▁', 'h', 'i', '▁h', '▁hi', '!', '1'].map((token, id) => [token, id]));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    // Llama 2 spells spaces in its normalizer; newer Mistral tokenizers use a Metaspace pre-tokenizer instead.
    normalizer: spaces === 'normalizer'
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }
      : null,
    pre_tokenizer: spaces === 'metaspace' ? { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false } : null,
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: { type: 'BPE', unk_token: '<unk>', continuing_subword_prefix: null, byte_fallback: true, fuse_unk: true, vocab, merges: ['▁ h', '▁h i'] },
  };
}

function writeModelDir(tokenizer: object | string | undefined, config?: object | string): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'model-'));
  const write = (name: string, value: object | string) => fs.writeFileSync(path.join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  if (tokenizer !== undefined) write('tokenizer.json', tokenizer);
  if (config !== undefined) write('tokenizer_config.json', config);
  return dir;
}

describe('byte-level alphabet', () => {
  test('is GPT-2 bytes_to_unicode: printable Latin-1 maps to itself, the rest to U+0100.. in byte order', () => {
    assert.equal(new Set(BYTE_TO_CHAR).size, 256);
    assert.equal(BYTE_TO_CHAR[0x41], 'A');
    assert.equal(BYTE_TO_CHAR[0xe9], 'é');
    assert.equal(BYTE_TO_CHAR[0x00], '\u0100');
    assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
    assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
    assert.equal(BYTE_TO_CHAR[0x7f], '\u0121');
    assert.equal(BYTE_TO_CHAR[0xad], '\u0143');
    for (let b = 0; b < 256; b++) assert.equal(CHAR_TO_BYTE.get(BYTE_TO_CHAR[b]), b);
  });
});

describe('PromptTokenizer on a hand-written byte-level BPE', () => {
  const tokenizer = PromptTokenizer.fromJson(byteLevelJson(), bosConfig);

  test('encode("the cat") applies the merges by rank and adds BOS with an empty span', () => {
    // "the" → t h e → th e → the; " cat" → Ġ c a t → Ġc a t → Ġca t
    assert.deepEqual(tokenizer.encode('the cat'), {
      ids: [260, 257, 259, 116],
      byteSpans: [[0, 0], [0, 3], [3, 6], [6, 7]],
    });
    assert.deepEqual([257, 259, 116].map((id) => tokenizer.tokenString(id)), ['the', 'Ġca', 't']);
  });

  test('reads BOS and EOS from the config', () => {
    assert.equal(tokenizer.bosId, 260);
    assert.equal(tokenizer.eosId, 261);
    assert.equal(tokenizer.addBos, true);
    assert.equal(tokenizer.vocabSize, 263);
  });

  test('addBos:false leaves BOS out; add_bos_token:false is respected and can be overridden', () => {
    assert.deepEqual(tokenizer.encode('the', { addBos: false }).ids, [257]);
    const noBos = PromptTokenizer.fromJson(byteLevelJson(), { ...bosConfig, add_bos_token: false });
    assert.equal(noBos.addBos, false);
    assert.deepEqual(noBos.encode('the').ids, [257]);
    assert.deepEqual(noBos.encode('the', { addBos: true }).ids, [260, 257]);
  });

  test('a prompt that starts with the BOS text gets BOS once, spanning that text', () => {
    const encoded = tokenizer.encode('<s>the');
    assert.deepEqual(encoded, { ids: [260, 257], byteSpans: [[0, 3], [3, 6]] });
    assert.equal(tokenizer.isSpecial(260), true);
    assert.equal(tokenizer.isSpecial(257), false);
  });

  test('special tokens inside the text span their own bytes', () => {
    const encoded = tokenizer.encode('a</s>b', { addBos: false });
    assert.deepEqual(encoded, { ids: [97, 261, 98], byteSpans: [[0, 1], [1, 5], [5, 6]] });
  });

  test('whitespace stripped by an lstrip token goes to that token\'s span', () => {
    // <mask> has lstrip: the library drops the spaces before it, so its span starts right after "a".
    const encoded = tokenizer.encode('a  <mask>', { addBos: false });
    assert.deepEqual(encoded, { ids: [97, 262], byteSpans: [[0, 1], [1, 9]] });
  });

  test('characters split across byte tokens get one-byte spans (no merge applies, so ids are the bytes)', () => {
    for (const text of ['naïve', '🚀', '日本語', 'é🚀日 ok', 'x\u00a0y\u00ad']) {
      const encoded = tokenizer.encode(text, { addBos: false });
      const bytes = utf8(text);
      assert.deepEqual(encoded.ids, Array.from(bytes), text);
      assert.deepEqual(encoded.byteSpans, Array.from(bytes, (_, i) => [i, i + 1]), text);
    }
  });

  test('tokenString rejects ids outside the vocabulary', () => {
    assert.throws(() => tokenizer.tokenString(263), hasCode('token-id-range'));
  });
});

describe('PromptTokenizer on a SentencePiece-style BPE with byte fallback', () => {
  for (const spaces of ['metaspace', 'normalizer'] as const) {
    const tokenizer = PromptTokenizer.fromJson(sentencePieceJson(spaces), { add_bos_token: true, bos_token: '<s>', eos_token: '</s>' });

    test(`${spaces}: the prepended ▁ spans nothing, fallback bytes span one byte each`, () => {
      // "hi hié!" → ▁hi▁hié! → ▁hi ▁hi <0xC3> <0xA9> !
      assert.deepEqual(tokenizer.encode('hi hié!'), {
        ids: [1, 263, 263, 3 + 0xc3, 3 + 0xa9, 264],
        byteSpans: [[0, 0], [0, 2], [2, 5], [5, 6], [6, 7], [7, 8]],
      });
    });

    test(`${spaces}: a lone prepended ▁ (as Llama puts before digits) gets an empty span`, () => {
      assert.deepEqual(tokenizer.encode('1', { addBos: false }), { ids: [259, 265], byteSpans: [[0, 0], [0, 1]] });
    });

    test(`${spaces}: a literal ▁ in the prompt is matched as its three bytes`, () => {
      const encoded = tokenizer.encode('hi▁hi', { addBos: false });
      assert.deepEqual(encoded, { ids: [263, 263], byteSpans: [[0, 2], [2, 7]] });
    });

    test(`${spaces}: a prompt that starts with a space or a ▁ gives it to ▁hi, not to a prepended ▁`, () => {
      // The Prepend normalizer always adds ▁ (" hi" → ▁▁hi → ▁ ▁hi); Metaspace adds none before a ▁ (→ ▁hi).
      const prepended = spaces === 'normalizer' ? { ids: [259], byteSpans: [[0, 0]] } : { ids: [], byteSpans: [] };
      for (const [text, length] of [[' hi', 3], ['▁hi', 5]] as const) {
        assert.deepEqual(tokenizer.encode(text, { addBos: false }), {
          ids: [...prepended.ids, 263],
          byteSpans: [...prepended.byteSpans, [0, length]],
        }, text);
      }
    });
  }
});

describe('PromptTokenizer with a trained byte-level BPE', () => {
  const demo = fs.readFileSync(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), 'utf8').split('\n').filter((line) => line.trim());
  const { tokenizer: json, tokenizerConfig } = trainByteLevelBpe(demo.join('\n'), { vocabSize: 1024 });
  const tokenizer = PromptTokenizer.fromJson(json, tokenizerConfig);

  test('every demo prompt: spans tile the bytes, and each span re-spells its token in the byte alphabet', () => {
    for (const text of demo) {
      const encoded = tokenizer.encode(text);
      assertTiles(text, encoded);
      const bytes = utf8(text);
      encoded.ids.forEach((id, i) => {
        const [start, end] = encoded.byteSpans[i];
        if (i === 0) assert.equal(id, tokenizer.bosId);
        else assert.equal(bytesToByteLevel(bytes.subarray(start, end)), tokenizer.tokenString(id), text);
      });
    }
  });

  test('text the corpus never saw, including whitespace runs and both special tokens', () => {
    for (const text of ['  two leading spaces', 'tabs\tand\nnewlines\r\n', 'ends with spaces   ', '<｜end▁of▁sentence｜> then <｜begin▁of▁sentence｜>', 'Ω≈ç√∫˜µ≤≥÷ 👩‍👩‍👧 𝔘𝔫𝔦']) {
      assertTiles(text, tokenizer.encode(text));
    }
  });

  test('loads with the real DeepSeekMoE tokenizer_config.json: BOS 0 and EOS 1, BOS added', () => {
    const config = fs.readFileSync(path.join(repoRoot(), 'assets', 'presets', 'deepseek-moe-16b-base.tokenizer_config.json'), 'utf8');
    const loaded = PromptTokenizer.load(writeModelDir(json, config));
    assert.deepEqual([loaded.bosId, loaded.eosId, loaded.addBos], [0, 1, true]);
    assert.deepEqual(loaded.encode('Hi').ids.slice(0, 1), [0]);
  });
});

describe('PromptTokenizer.load', () => {
  test('without tokenizer_config.json: no BOS unless the post-processor adds one', () => {
    const plain = PromptTokenizer.load(writeModelDir(byteLevelJson()));
    assert.deepEqual([plain.bosId, plain.addBos], [undefined, false]);
    assert.deepEqual(plain.encode('the').ids, [257]);

    const template = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [260], tokens: ['<s>'] } },
    };
    const llama = PromptTokenizer.load(writeModelDir(byteLevelJson(template)));
    assert.deepEqual([llama.bosId, llama.addBos], [260, true]);
    assert.deepEqual(llama.encode('the').ids, [260, 257]);
  });

  test('missing tokenizer.json', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir(undefined)), (error: unknown) => hasCode('tokenizer-missing')(error) && /tokenizer\.json: no such file/.test((error as Error).message));
  });

  test('tokenizer.json that is not JSON', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir('{"model": ')), hasCode('tokenizer-not-json'));
  });

  test('tokenizer_config.json that is not JSON', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir(byteLevelJson(), '[1,')), (error: unknown) => hasCode('tokenizer-config-not-json')(error) && /tokenizer_config\.json/.test((error as Error).message));
  });

  test('a model that is not BPE or Unigram', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir({ ...byteLevelJson(), model: { type: 'WordPiece', vocab: {} } })), hasCode('tokenizer-model'));
  });

  test('a bos_token missing from the vocabulary', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir(byteLevelJson(), { bos_token: '<bos>' })), (error: unknown) => hasCode('tokenizer-special-token')(error) && /bos_token "<bos>"/.test((error as Error).message));
  });

  test('a bos_token of the wrong type', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir(byteLevelJson(), { bos_token: 7 })), hasCode('tokenizer-config-field'));
  });

  test('add_bos_token without a bos_token', () => {
    assert.throws(() => PromptTokenizer.load(writeModelDir(byteLevelJson(), { add_bos_token: true })), hasCode('tokenizer-no-bos'));
  });

  test('a normalizer that changes the text makes offsets impossible, said per prompt', () => {
    const lowercase = PromptTokenizer.load(writeModelDir({ ...byteLevelJson(), normalizer: { type: 'Lowercase' } }));
    assert.deepEqual(lowercase.encode('the').ids, [257]);
    assert.throws(() => lowercase.encode('The'), (error: unknown) => hasCode('tokenizer-offsets')(error) && /at byte 0/.test((error as Error).message));
  });
});
