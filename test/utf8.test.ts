/**
 * The UTF-8 byte helpers (src/loaders/utf8.ts) on hand-made byte strings: characters counted and text cut so
 * that no character is split. Validity itself is held to TextDecoder's fatal mode in token-display.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { characterCount, cutAtCharacters } from '../src/loaders/utf8.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const utf8 = (text: string) => new TextEncoder().encode(text);

describe('character boundaries', () => {
  test('characterCount counts characters, not bytes', () => {
    assert.equal(characterCount(utf8('a你😀')), 3);
    assert.equal(characterCount(bytes(0xbd, 0xa0)), 0);
  });

  test('cutAtCharacters drops a partial character at the asked ends only', () => {
    const text = utf8('你好😀'); // E4 BD A0 | E5 A5 BD | F0 9F 98 80
    assert.deepEqual(cutAtCharacters(text.subarray(1), { start: true }), utf8('好😀'));
    assert.deepEqual(cutAtCharacters(text.subarray(2), { start: true }), utf8('好😀'));
    assert.deepEqual(cutAtCharacters(text.subarray(0, 8), { end: true }), utf8('你好'));
    assert.deepEqual(cutAtCharacters(text.subarray(0, 6), { end: true }), utf8('你好'), 'ends on a whole character: nothing dropped');
    assert.deepEqual(cutAtCharacters(text.subarray(1, 8), { start: true, end: true }), utf8('好'));
    assert.deepEqual(cutAtCharacters(text.subarray(1, 8), {}), text.subarray(1, 8), 'no end asked: unchanged');
    assert.deepEqual(cutAtCharacters(bytes(0xbd, 0xa0), { start: true, end: true }), bytes());
  });
});
