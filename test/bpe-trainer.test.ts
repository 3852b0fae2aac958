import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../src/errors.js';
import { BYTE_TO_CHAR } from '../src/loaders/byte-level.js';
import { PromptTokenizer } from '../src/loaders/tokenizer.js';
import { bosToken, eosToken, preTokenize, trainByteLevelBpe } from '../src/synth/bpe-trainer.js';
import { repoRoot } from './helpers/cli.js';

const demoText = fs.readFileSync(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), 'utf8');
const demoLines = demoText.split('\n').filter((line) => line.trim());

/**
 * The textbook trainer, for comparison: recount every pair of every word before each merge and take the most
 * frequent, ties to the pair of smaller ids; stop when the vocabulary is full or no pair occurs twice.
 */
function naiveMerges(corpus: string, vocabSize: number): string[] {
  const counts = new Map<string, number>();
  for (const piece of preTokenize(corpus)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  const words = [...counts].map(([piece, count]) => ({ symbols: Array.from(piece), count }));
  const ids = new Map([bosToken, eosToken, ...BYTE_TO_CHAR].map((token, id) => [token, id]));
  const merges: string[] = [];
  while (ids.size < vocabSize) {
    const pairs = new Map<string, { left: string; right: string; count: number }>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        const pair = pairs.get(key) ?? { left: symbols[i], right: symbols[i + 1], count: 0 };
        pair.count += count;
        pairs.set(key, pair);
      }
    }
    let best: { left: string; right: string; count: number } | undefined;
    for (const pair of pairs.values()) {
      const order = (p: typeof pair) => [p.count, -ids.get(p.left)!, -ids.get(p.right)!];
      const [a, b] = [order(pair), best ? order(best) : undefined];
      if (!b || a[0] > b[0] || (a[0] === b[0] && (a[1] > b[1] || (a[1] === b[1] && a[2] > b[2])))) best = pair;
    }
    if (!best || best.count < 2) break;
    const merged = best.left + best.right;
    if (!ids.has(merged)) ids.set(merged, ids.size);
    merges.push(`${best.left} ${best.right}`);
    for (const word of words) {
      const out: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === best.left && word.symbols[i + 1] === best.right) {
          out.push(merged);
          i++;
        } else out.push(word.symbols[i]);
      }
      word.symbols = out;
    }
  }
  return merges;
}

describe('trainByteLevelBpe', () => {
  const { tokenizer, tokenizerConfig } = trainByteLevelBpe(demoText);

  test('learns the same merges as the textbook trainer', () => {
    const corpus = demoLines.slice(0, 60).join('\n');
    const { tokenizer: small } = trainByteLevelBpe(corpus, { vocabSize: 700 });
    assert.deepEqual(small.model.merges, naiveMerges(corpus, 700));
  });

  test('is deterministic: the same corpus gives the same JSON', () => {
    assert.equal(JSON.stringify(trainByteLevelBpe(demoText)), JSON.stringify({ tokenizer, tokenizerConfig }));
  });

  test('ids: BOS 0, EOS 1, byte b at 2 + b, merges after; unique, contiguous and below vocabSize', () => {
    const vocab = tokenizer.model.vocab;
    const ids = Object.values(vocab).sort((a, b) => a - b);
    assert.deepEqual(ids, ids.map((_, i) => i));
    assert.ok(ids.length <= 4096 && ids.length > 1000, `${ids.length} tokens`);
    assert.equal(vocab[bosToken], 0);
    assert.equal(vocab[eosToken], 1);
    BYTE_TO_CHAR.forEach((char, byte) => assert.equal(vocab[char], 2 + byte));
    assert.deepEqual(tokenizer.added_tokens.map((t) => [t.id, t.content, t.special]), [[0, bosToken, true], [1, eosToken, true]]);
    for (const merge of tokenizer.model.merges) assert.ok(merge.replace(' ', '') in vocab, merge);
  });

  test('stops at vocabSize', () => {
    const { tokenizer: small } = trainByteLevelBpe(demoText, { vocabSize: 300 });
    assert.equal(Object.keys(small.model.vocab).length, 300);
  });

  test('the special tokens and config match DeepSeek\'s tokenizer_config.json', () => {
    const deepseek = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'assets', 'presets', 'deepseek-moe-16b-base.tokenizer_config.json'), 'utf8'));
    assert.equal(tokenizerConfig.bos_token, deepseek.bos_token.content);
    assert.equal(tokenizerConfig.eos_token, deepseek.eos_token.content);
    assert.equal(tokenizerConfig.add_bos_token, true);
    assert.equal(tokenizerConfig.tokenizer_class, 'LlamaTokenizerFast');
  });

  test('its pre-tokenizer is the one tokenizer.json declares, as @huggingface/tokenizers runs it', () => {
    const library = new Tokenizer(tokenizer, tokenizerConfig);
    for (const line of [...demoLines, "it's 3.14, isn't it?  \n  Yes!"]) {
      assert.deepEqual(library.pre_tokenizer!.pre_tokenize_text(line), preTokenize(line), line);
    }
  });

  test('digits are always single tokens', () => {
    const encoder = PromptTokenizer.fromJson(tokenizer, tokenizerConfig);
    const { ids } = encoder.encode('Order 48213 cost $1,249.99 in 2023', { addBos: false });
    const tokens = ids.map((id) => encoder.tokenString(id));
    for (const token of tokens) if (/\d/.test(token)) assert.match(token, /^\d$/);
    assert.deepEqual(tokens.filter((t) => /\d/.test(t)).join(''), '48213124999' + '2023');
  });

  test('PromptTokenizer round trip on every demo prompt; merges shrink it to under 40% of its bytes', () => {
    const encoder = PromptTokenizer.fromJson(tokenizer, tokenizerConfig);
    const library = new Tokenizer(tokenizer, tokenizerConfig);
    let tokens = 0;
    let bytes = 0;
    for (const line of demoLines) {
      const text = new TextEncoder().encode(line);
      const { ids, byteSpans } = encoder.encode(line);
      assert.equal(ids[0], 0);
      const joined = Buffer.concat(byteSpans.map(([start, end]) => text.subarray(start, end)));
      assert.deepEqual(new Uint8Array(joined), text, line);
      assert.equal(library.decode(ids, { skip_special_tokens: true }), line);
      tokens += ids.length - 1;
      bytes += text.length;
    }
    assert.ok(tokens < 0.4 * bytes, `${tokens} tokens for ${bytes} bytes`);
  });

  test('trains a 4096 vocabulary on ~100 KB in well under 2 s', () => {
    const corpus = [demoText, demoText.toUpperCase(), [...demoText].reverse().join(''), demoText.replace(/[aeiou]/g, 'y')].join('\n');
    assert.ok(corpus.length > 100_000);
    const start = performance.now();
    const { tokenizer: big } = trainByteLevelBpe(corpus, { vocabSize: 4096 });
    const elapsed = performance.now() - start;
    assert.equal(Object.keys(big.model.vocab).length, 4096);
    assert.ok(elapsed < 2000, `${elapsed.toFixed(0)} ms`);
  });

  test('rejects a vocabSize below BOS + EOS + 256 bytes', () => {
    assert.throws(() => trainByteLevelBpe('abc', { vocabSize: 257 }), (error: unknown) => error instanceof InputError && error.code === 'bpe-vocab-size' && /257/.test(error.message));
  });
});
