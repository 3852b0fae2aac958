import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BYTE_TO_CHAR } from '../src/loaders/byte-level.js';
import { PromptTokenizer } from '../src/loaders/tokenizer.js';
import { locateWordBytes, overlappingTokens, spansFromLengths, type ByteSpan } from '../src/wic/locate.js';

/**
 * A sentence with its target word in brackets, written by hand: "He sat on the [bank] of the river." gives
 * the sentence without brackets and the word's byte span in it, the answer locateWordBytes must find.
 */
function marked(text: string): { sentence: string; span: ByteSpan; word: string } {
  const open = text.indexOf('[');
  const close = text.indexOf(']');
  const sentence = text.slice(0, open) + text.slice(open + 1, close) + text.slice(close + 1);
  const start = Buffer.byteLength(text.slice(0, open));
  return { sentence, span: [start, start + Buffer.byteLength(text.slice(open + 1, close))], word: text.slice(open + 1, close) };
}

/**
 * A byte-level BPE like GPT-2's and DeepSeek's: ids 0..255 are the bytes; the only merges build "Ġbank" (a
 * space and "bank"), so " bank" is one token, "banks" two, and "bank" without a space before it four.
 */
const tokenizer = PromptTokenizer.fromJson({
  added_tokens: [{ id: 260, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    unk_token: null,
    continuing_subword_prefix: null,
    byte_fallback: false,
    vocab: Object.fromEntries([...BYTE_TO_CHAR, 'Ġb', 'Ġba', 'Ġban', 'Ġbank'].map((token, id) => [token, id])),
    merges: ['Ġ b', 'Ġb a', 'Ġba n', 'Ġban k'],
  },
}, { add_bos_token: true, bos_token: '<s>' });

/** The text of the tokens the word is found in, through the tokenizer's byte spans (BOS included, as routed). */
function wordTokens(sentence: string, wordIndex: number, lemma: string): string[] {
  const located = locateWordBytes(sentence, wordIndex, lemma);
  assert.ok('found' in located, JSON.stringify(located));
  const { byteSpans } = tokenizer.encode(sentence);
  const range = overlappingTokens(byteSpans, located.found);
  assert.ok(range, `no tokens overlap ${located.found}`);
  const bytes = Buffer.from(sentence);
  return byteSpans.slice(range[0], range[1] + 1).map(([s, e]) => bytes.subarray(s, e).toString('utf8'));
}

describe('locateWordBytes', () => {
  const cases: Array<[string, number, string, string]> = [
    // marked sentence, whitespace-token index, lemma, why
    ['He sat on the [bank] of the river.', 4, 'bank', 'plain word'],
    ['We walked along the river [banks], slowly.', 5, 'bank', 'inflected, comma after'],
    ['Call the ([bank]) now.', 2, 'bank', 'brackets around'],
    ['The [bank]\'s vault was empty.', 1, 'bank', 'possessive: the lemma-like stretch, not "s"'],
    ['Fish gathered near the muddy [bank].', 5, 'bank', 'full stop after'],
    ['[Banks] fail.', 0, 'bank', 'capitalised, first word'],
    ['The bank near the other [bank] was robbed.', 5, 'bank', 'the second of two occurrences'],
    ['Über café owners, the [bank] is closed.', 4, 'bank', 'non-ASCII before the word: byte offsets differ from character offsets'],
    ['The “[light]” from the window.', 1, 'light', 'curly quotes around'],
    ['She was [running] late.', 2, 'run', 'inflected form of a short lemma'],
    ['They [ran] the company.', 1, 'run', 'irregular form: falls back to the whole token'],
    ['The cat chased three [mice].', 4, 'mouse', 'irregular form with punctuation: the alphanumeric core'],
    ['She is a world-[famous] singer.', 3, 'famous', 'hyphenated: the stretch that starts like the lemma'],
    ['We met at five [o\'clock].', 4, 'o\'clock', 'apostrophe inside the lemma: the core keeps it'],
    ['The  new [play] opens.', 2, 'play', 'two spaces count as one separator'],
    ['  \t[Bank] holidays', 0, 'bank', 'leading whitespace is not a token'],
    ['The cafe\u0301 served [tea].', 3, 'tea', 'combining mark earlier in the sentence'],
    ['A [cafe\u0301] opened.', 1, 'café', 'combining mark inside the word'],
    ['[日本の銀行で]', 0, 'xyz', 'no spaces and no lemma-like stretch: the whole token'],
  ];
  for (const [text, index, lemma, why] of cases) {
    test(`${why}: ${JSON.stringify(text)}`, () => {
      const { sentence, span } = marked(text);
      assert.deepEqual(locateWordBytes(sentence, index, lemma), { found: span });
    });
  }

  test('a whitespace token that does not exist is a problem that gives the count', () => {
    const located = locateWordBytes('The bank is closed.', 4, 'bank');
    assert.ok('problem' in located);
    assert.match(located.problem, /token 4 does not exist .* has 4/);
  });

  test('a whitespace token without letters or digits is a problem', () => {
    const located = locateWordBytes('The — bank', 1, 'bank');
    assert.ok('problem' in located);
    assert.match(located.problem, /token 1 "—" has no letters or digits/);
  });
});

describe('overlappingTokens', () => {
  test('takes every token that overlaps, with or without its leading space', () => {
    // "a bank" as "a" " b" "ank": the word [2, 6) overlaps " b" [1, 3) and "ank" [3, 6).
    assert.deepEqual(overlappingTokens([[0, 1], [1, 3], [3, 6]], [2, 6]), [1, 2]);
  });

  test('an empty BOS span overlaps nothing, even at the word\'s start', () => {
    assert.deepEqual(overlappingTokens([[0, 0], [0, 2], [2, 4], [4, 5]], [0, 4]), [1, 2]);
  });

  test('a token that is only the space before the word is not the word', () => {
    assert.deepEqual(overlappingTokens([[0, 1], [1, 2], [2, 6]], [2, 6]), [2, 2]);
  });

  test('tokens that stop before the word ends (a sentence cut at the length limit) find nothing', () => {
    assert.equal(overlappingTokens([[0, 0], [0, 3], [3, 5]], [4, 9]), undefined);
    assert.equal(overlappingTokens([[0, 3]], [4, 9]), undefined);
  });

  test('spansFromLengths tiles the bytes in order', () => {
    assert.deepEqual(spansFromLengths([0, 2, 3, 1]), [[0, 0], [0, 2], [2, 5], [5, 6]]);
  });
});

describe('the word through a byte-level tokenizer', () => {
  test('" bank" is one token with its leading space', () => {
    assert.deepEqual(wordTokens('He sat on the bank of the river.', 4, 'bank'), [' bank']);
  });

  test('"banks," gives " bank" and "s", not the comma', () => {
    assert.deepEqual(wordTokens('We walked along the river banks, slowly.', 5, 'bank'), [' bank', 's']);
  });

  test('"(bank)" after a space gives the four letters of "bank" (no merge without the space)', () => {
    assert.deepEqual(wordTokens('Call the (bank) now.', 2, 'bank'), ['b', 'a', 'n', 'k']);
  });

  test('a word at the start is found past the BOS token', () => {
    assert.deepEqual(wordTokens('Banks fail.', 0, 'bank'), ['B', 'a', 'n', 'k', 's']);
  });

  test('"bank\'s" gives " bank" only', () => {
    assert.deepEqual(wordTokens("The bank's vault", 1, 'bank'), [' bank']);
  });

  test('a lone space token before the word is left out', () => {
    // No merge builds "Ġr", so " running" is "Ġ" then single letters; "Ġ" covers only the space.
    assert.deepEqual(wordTokens('She was running late.', 2, 'run'), ['r', 'u', 'n', 'n', 'i', 'n', 'g']);
  });

  test('non-ASCII before the word shifts bytes, not the tokens found', () => {
    assert.deepEqual(wordTokens('Über café owners, the bank is closed.', 4, 'bank'), [' bank']);
  });

  test('the second occurrence of a repeated word is the one named by the index', () => {
    const sentence = 'The bank near the other bank was robbed.';
    const located = locateWordBytes(sentence, 5, 'bank');
    assert.ok('found' in located);
    const { byteSpans } = tokenizer.encode(sentence);
    const range = overlappingTokens(byteSpans, located.found)!;
    assert.deepEqual(byteSpans[range[0]], [23, 28], 'the token " bank" of the second occurrence');
    assert.deepEqual(wordTokens(sentence, 1, 'bank'), [' bank']);
  });
});
