/**
 * The WiC suspect-pair rule (contract.md, wic.json `suspect_pairs`) on hand-made sentences: regular
 * inflections and listed irregular forms of the lemma are accepted; another word, or the word next to the
 * target (an off-by-one index), is suspect and reported with its case-folded core.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findSuspectPairs, suspectPairsWarning, suspectWord } from '../src/wic/suspect-pairs.js';
import type { WicPair } from '../src/wic/wic-data.js';

function pair(index: number, word: string, wordIndices: [number, number], sentences: [string, string]): WicPair {
  return { index, word, pos: 'N', wordIndices, sentences, same: true };
}

describe('suspectWord', () => {
  test('regular inflections of the lemma are not suspect', () => {
    assert.equal(suspectWord('The boards were painted.', 1, 'board'), undefined);
    assert.equal(suspectWord('She carried the box.', 1, 'carry'), undefined);
    assert.equal(suspectWord('He was running late.', 2, 'run'), undefined);
    assert.equal(suspectWord('"Banks," he said.', 0, 'bank'), undefined, 'punctuation around the word');
    assert.equal(suspectWord('The BANK closed.', 1, 'Bank'), undefined, 'case-folded on both sides');
  });

  test('listed irregular forms are not suspect', () => {
    assert.equal(suspectWord('Prices rose sharply.', 1, 'rise'), undefined);
    assert.equal(suspectWord('I bought a car.', 1, 'buy'), undefined);
    assert.equal(suspectWord('She kept quiet.', 1, 'keep'), undefined);
    assert.equal(suspectWord('They left early.', 1, 'leave'), undefined);
    assert.equal(suspectWord('We went home.', 1, 'go'), undefined);
    assert.equal(suspectWord('Three men arrived.', 1, 'man'), undefined);
    assert.equal(suspectWord('The children played.', 1, 'child'), undefined);
    assert.equal(suspectWord('The mice ran.', 1, 'mouse'), undefined);
    assert.equal(suspectWord("The children's toys.", 1, 'child'), undefined, 'an irregular form with a clitic');
  });

  test('compounds and apostrophes are accepted through one of their parts', () => {
    assert.equal(suspectWord('She is a world-famous singer.', 3, 'famous'), undefined);
    assert.equal(suspectWord("We met at five o'clock.", 4, "o'clock"), undefined);
  });

  test('another word is suspect, reported as its case-folded alphanumeric core', () => {
    assert.equal(suspectWord('He sat on the Shore, alone.', 4, 'bank'), 'shore');
    assert.equal(suspectWord('They ran home.', 1, 'rise'), 'ran', 'an irregular form of another lemma');
  });

  test('an index one off points at the neighbouring word, which is suspect', () => {
    const sentence = 'He sat on the bank of the river.';
    assert.equal(suspectWord(sentence, 4, 'bank'), undefined);
    assert.equal(suspectWord(sentence, 5, 'bank'), 'of');
    assert.equal(suspectWord(sentence, 3, 'bank'), 'the');
  });

  test('an index past the end or at a word without letters is left to the word locator', () => {
    assert.equal(suspectWord('A bank.', 5, 'bank'), undefined);
    assert.equal(suspectWord('A — bank.', 1, 'bank'), undefined);
  });
});

describe('findSuspectPairs', () => {
  const pairs = [
    pair(0, 'board', [1, 1], ['The boards creaked.', 'A board meeting.']),
    pair(1, 'bank', [4, 1], ['He sat on the shore of the river.', 'The bank approved my loan.']),
    pair(2, 'buy', [1, 2], ['I bought bread.', 'They will buy it.']),
    pair(3, 'bank', [5, 2], ['He sat on the bank of the river.', 'Call the bank now.']),
  ];

  test('lists every suspect sentence in file order with index, sentence (1 or 2), target and found', () => {
    assert.deepEqual(findSuspectPairs(pairs), [
      { index: 1, sentence: 1, target: 'bank', found: 'shore' },
      { index: 3, sentence: 1, target: 'bank', found: 'of' },
    ]);
  });

  test('the warning is one line with the pair count and the first example', () => {
    const line = suspectPairsWarning(findSuspectPairs(pairs), 'data.txt', false);
    assert.doesNotMatch(line, /\n/);
    assert.match(line, /^data\.txt: warning: 2 pairs whose index points at another word than the target, e\.g\. line 2, sentence 1: "shore" for "bank"; used anyway \(--skip-bad-pairs/);
    const one = suspectPairsWarning(findSuspectPairs(pairs.slice(0, 2)), 'data.txt', true);
    assert.match(one, /: 1 pair whose index .*; skipped$/);
  });
});
