import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../src/errors.js';
import { PromptTokenizer, type EncodedPrompt } from '../src/loaders/tokenizer.js';
import { trainerDefaults } from '../src/synth/bpe-trainer.js';
import { trainMetaspaceBpe } from '../src/synth/metaspace-bpe-trainer.js';
import { repoRoot } from './helpers/cli.js';

const demoText = fs.readFileSync(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), 'utf8');
const demoLines = demoText.split('\n').filter((line) => line.trim());
const utf8 = (text: string) => new TextEncoder().encode(text);
const byteToken = (byte: number) => `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
/** <unk> <s> </s>, then the 256 byte tokens. */
const firstLearnedId = 3 + 256;

/** Prompts that exercise spaces, digits, punctuation and characters outside ASCII; every one decodes exactly. */
const prompts = [
  'The river bank flooded after the storm.',
  ' one leading space',
  '   three leading spaces',
  'trailing spaces  ',
  'double  spaces  inside',
  'Order 48213 cost $1,249.99 in 2023',
  'Wait... what?! (yes); "quoted" [x] {y} a-b_c #1 @home 50% & more',
  'Launch 🚀 party 🎉 👩‍👩‍👧',
  '東京は大きい 你好 世界',
  'The price is €5 or 4,99 €',
  'first line\nsecond line\n\nafter a blank line\n',
  '\ttab\tseparated\t',
  ' ',
];

/**
 * Checks the EncodedPrompt contract on a BOS-prefixed encoding: BOS first with an empty span, non-empty spans
 * in order and covering every byte, and each token's span holding that token's text (`▁` as a space or a
 * literal `▁`, a byte token its byte); only the first token may leave out its `▁`, the one the tokenizer prepends.
 */
function assertSpansSpellTokens(tokenizer: PromptTokenizer, text: string, { ids, byteSpans }: EncodedPrompt): void {
  const bytes = utf8(text);
  assert.equal(ids[0], tokenizer.bosId, text);
  assert.deepEqual(byteSpans[0], [0, 0], text);
  let pos = 0;
  ids.slice(1).forEach((id, i) => {
    const [start, end] = byteSpans[i + 1];
    const token = tokenizer.tokenString(id);
    const covered = bytes.subarray(start, end);
    const where = `${JSON.stringify(text)}: token ${JSON.stringify(token)} spans [${start}, ${end})`;
    assert.equal(start, pos, where);
    const fallbackByte = /^<0x([0-9A-F]{2})>$/.exec(token);
    if (fallbackByte) assert.deepEqual([...covered], [parseInt(fallbackByte[1], 16)], where);
    else {
      const spelled = new TextDecoder().decode(covered).replaceAll('▁', ' ');
      const tokenText = token.replaceAll('▁', ' ');
      assert.ok(spelled === tokenText || (i === 0 && ' ' + spelled === tokenText), where);
    }
    pos = end;
  });
  assert.equal(pos, bytes.length, text);
}

describe('trainMetaspaceBpe', () => {
  const { tokenizer, tokenizerConfig } = trainMetaspaceBpe(demoText);
  const encoder = PromptTokenizer.fromJson(tokenizer, tokenizerConfig);
  const library = new Tokenizer(tokenizer, tokenizerConfig);
  const tokenStrings = (ids: number[]) => ids.map((id) => encoder.tokenString(id));

  test('ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> at 3..258, ▁ at 259, learned pieces after; contiguous', () => {
    const vocab = tokenizer.model.vocab;
    const ids = Object.values(vocab).sort((a, b) => a - b);
    assert.deepEqual(ids, ids.map((_, i) => i));
    assert.ok(ids.length <= trainerDefaults.vocabSize && ids.length > 1000, `${ids.length} tokens`);
    assert.deepEqual([vocab['<unk>'], vocab['<s>'], vocab['</s>']], [0, 1, 2]);
    for (let byte = 0; byte < 256; byte++) assert.equal(vocab[byteToken(byte)], 3 + byte);
    assert.equal(vocab['▁'], firstLearnedId);
    assert.deepEqual(tokenizer.added_tokens.map((t) => [t.id, t.content, t.special]), [[0, '<unk>', true], [1, '<s>', true], [2, '</s>', true]]);
    for (const merge of tokenizer.model.merges) assert.ok(merge.replace(' ', '') in vocab, merge);
  });

  test('writes the Llama 2 / older Mixtral layout: Prepend+Replace normalizer, byte fallback, Strip decoder', () => {
    assert.equal(tokenizer.pre_tokenizer, null);
    assert.deepEqual(tokenizer.normalizer, {
      type: 'Sequence',
      normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }],
    });
    assert.deepEqual((tokenizer.decoder as { decoders: object[] }).decoders.at(-1), { type: 'Strip', content: ' ', start: 1, stop: 0 });
    assert.deepEqual([tokenizer.model.byte_fallback, tokenizer.model.fuse_unk, tokenizer.model.unk_token], [true, true, '<unk>']);
  });

  test('the newer Metaspace layout would lose a leading space in @huggingface/tokenizers (why it is not used)', () => {
    const metaspace = new Tokenizer({
      ...tokenizer,
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    }, tokenizerConfig);
    const { ids } = metaspace.encode(' leading', { add_special_tokens: false });
    assert.equal(metaspace.decode(ids), 'leading');
    assert.equal(library.decode(library.encode(' leading', { add_special_tokens: false }).ids), ' leading');
  });

  test('tokenizer_config.json: LlamaTokenizerFast, <s> added as BOS, </s> as EOS', () => {
    assert.deepEqual(tokenizerConfig, {
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      clean_up_tokenization_spaces: false,
      model_max_length: trainerDefaults.modelMaxLength,
      tokenizer_class: 'LlamaTokenizerFast',
    });
    assert.deepEqual([encoder.bosId, encoder.eosId, encoder.addBos], [1, 2, true]);
  });

  test('prompts decode back exactly, and PromptTokenizer\'s spans tile their bytes token by token', () => {
    for (const text of prompts) {
      const encoded = encoder.encode(text);
      assert.equal(library.decode(encoded.ids, { skip_special_tokens: true }), text, text);
      assertSpansSpellTokens(encoder, text, encoded);
    }
  });

  test('a literal ▁ in the prompt gets its own bytes, but decodes as a space (▁ is the vocabulary\'s space)', () => {
    for (const text of ['a▁b', '▁leading', 'trailing▁', 'mixed ▁ and  ▁▁ spaces']) {
      const encoded = encoder.encode(text);
      assertSpansSpellTokens(encoder, text, encoded);
      assert.equal(library.decode(encoded.ids, { skip_special_tokens: true }), text.replaceAll('▁', ' '), text);
    }
  });

  test('every demo prompt round-trips; merges shrink it to under 45% of its bytes', () => {
    let tokens = 0;
    let bytes = 0;
    for (const line of demoLines) {
      const encoded = encoder.encode(line);
      assert.equal(library.decode(encoded.ids, { skip_special_tokens: true }), line);
      assertSpansSpellTokens(encoder, line, encoded);
      tokens += encoded.ids.length - 1;
      bytes += utf8(line).length;
    }
    assert.ok(tokens < 0.45 * bytes, `${tokens} tokens for ${bytes} bytes`);
  });

  test('every digit is a token of its own, in the vocabulary and when encoding', () => {
    for (const [token, id] of Object.entries(tokenizer.model.vocab)) {
      if (id >= firstLearnedId && /\p{N}/u.test(token)) assert.equal([...token].length, 1, token);
    }
    const { ids } = encoder.encode('Order 48213 cost $1,249.99 in 2023, pages 7-10', { addBos: false });
    const digitTokens = tokenStrings(ids).filter((token) => /\d/.test(token));
    assert.deepEqual(digitTokens, [...'48213' + '124999' + '2023' + '710']);
  });

  test('characters outside the learned alphabet are encoded as their UTF-8 byte tokens', () => {
    // demo.txt has a few €; without those lines the corpus never sees it.
    const noEuro = trainMetaspaceBpe(demoLines.filter((line) => !line.includes('€')).join('\n'), { vocabSize: 1000 });
    const euroEncoder = PromptTokenizer.fromJson(noEuro.tokenizer, noEuro.tokenizerConfig);
    const euro = euroEncoder.encode('€', { addBos: false });
    assert.deepEqual(euro.ids.slice(1), [0xe2, 0x82, 0xac].map((byte) => 3 + byte));
    assert.deepEqual(euro.byteSpans, [[0, 0], [0, 1], [1, 2], [2, 3]]);
    assert.equal(new Tokenizer(noEuro.tokenizer, noEuro.tokenizerConfig).decode(euro.ids), '€');

    // With the full corpus € is learned, so no byte token is needed.
    assert.ok('€' in tokenizer.model.vocab);
    assert.ok(encoder.encode('€', { addBos: false }).ids.every((id) => id >= firstLearnedId));
  });

  test('a small vocabulary keeps the most frequent characters and sends the rest through byte fallback', () => {
    const small = trainMetaspaceBpe(demoText, { vocabSize: firstLearnedId + 40 });
    assert.equal(Object.keys(small.tokenizer.model.vocab).length, firstLearnedId + 40);
    assert.ok('e' in small.tokenizer.model.vocab && !('é' in small.tokenizer.model.vocab));
    const smallEncoder = PromptTokenizer.fromJson(small.tokenizer, small.tokenizerConfig);
    const text = 'café €2';
    const encoded = smallEncoder.encode(text);
    assert.deepEqual(encoded.ids.filter((id) => id < firstLearnedId), [1, 3 + 0xc3, 3 + 0xa9, 3 + 0xe2, 3 + 0x82, 3 + 0xac]);
    assertSpansSpellTokens(smallEncoder, text, encoded);
    assert.equal(new Tokenizer(small.tokenizer, small.tokenizerConfig).decode(encoded.ids, { skip_special_tokens: true }), text);
  });

  test('is deterministic: the same corpus gives the same JSON', () => {
    assert.equal(JSON.stringify(trainMetaspaceBpe(demoText)), JSON.stringify({ tokenizer, tokenizerConfig }));
  });

  test('rejects a vocabSize below <unk> <s> </s> + 256 bytes + ▁', () => {
    assert.throws(() => trainMetaspaceBpe('abc', { vocabSize: firstLearnedId }), (error: unknown) => error instanceof InputError && error.code === 'bpe-vocab-size' && /259/.test(error.message));
    assert.equal(Object.keys(trainMetaspaceBpe('abc', { vocabSize: firstLearnedId + 1 }).tokenizer.model.vocab).length, firstLearnedId + 1);
  });
});
