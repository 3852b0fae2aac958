import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { plantedClass, tokenClass, TokenClassCounter, tokenClasses } from '../src/analysis/token-classes.js';

describe('token classes', () => {
  test('a token has the class of all its characters, one leading space aside, else mixed', () => {
    const cases: Array<[string, string | undefined]> = [
      [' 42', 'digits'],
      ['7', 'digits'],
      ['٣', 'digits'],
      [' the', 'letters'],
      ['é', 'letters'],
      ['中文', 'CJK'],
      [' の', 'CJK'],
      ['한', 'CJK'],
      ['.', 'punctuation'],
      [' $+', 'punctuation'],
      ['«»', 'punctuation'],
      [' ', 'whitespace'],
      ['\n\n', 'whitespace'],
      ['  x', 'mixed'],
      ['a1', 'mixed'],
      ['中a', 'mixed'],
      ['\uFFFD', 'other'],
      ['\u0301', 'other'],
      ['', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(tokenClass(text), expected, JSON.stringify(text));
  });

  test('the planted classes are ASCII digits and ASCII marks only, after one leading space', () => {
    assert.equal(plantedClass(' 123'), 'digit');
    assert.equal(plantedClass('?!'), 'punct');
    assert.equal(plantedClass(' «'), undefined);
    assert.equal(plantedClass('٣'), undefined);
    assert.equal(plantedClass('  1'), undefined);
  });

  test('per expert, the share of its choices in each class, and the layer\'s mix (hand-worked)', () => {
    // 3 tokens (digits, letters, BOS without class), L = 2, K = 2, E = 3; the counter reads layer 1 only.
    const classOf = Int8Array.from([tokenClasses.indexOf('digits'), tokenClasses.indexOf('letters'), -1]);
    const counter = new TokenClassCounter(classOf, 2, 2, 3, [1]);
    // ids [t][l][k]: layer 1 gives token 0 -> {0, 1}, token 1 -> {1, 2}, token 2 -> {0, 2} (ignored).
    counter.add({ start: 0, tokens: 3, ids: Int32Array.from([2, 1, 0, 1, 0, 0, 1, 2, 1, 1, 0, 2]) });
    const share = (cls: string) => tokenClasses.indexOf(cls as (typeof tokenClasses)[number]);
    const shares = counter.shares(0);
    assert.equal(shares[0][share('digits')], 1);
    assert.equal(shares[1][share('digits')], 0.5);
    assert.equal(shares[1][share('letters')], 0.5);
    assert.equal(shares[2][share('letters')], 1);
    const overall = counter.overall(0);
    assert.equal(overall[share('digits')], 0.5);
    assert.equal(overall[share('letters')], 0.5);
    assert.equal(overall.reduce((s, x) => s + x, 0), 1);
  });
});
