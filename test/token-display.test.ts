/**
 * The token display (src/page/token-display.ts) on hand-made byte strings: valid text stays text, and every
 * byte that is not UTF-8 text on its own (a truncated lead byte, lone continuation bytes, a 4-byte character
 * split 1+3 or 2+2, overlong forms, surrogates) is shown as that byte. Validity is held to TextDecoder's
 * fatal mode on random byte strings; every form is checked to give back exactly the token's bytes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isValidUtf8 } from '../src/loaders/utf8.js';
import { bytesHtml, contextDisplay, displayPlain, hexBytes, tokenDisplay, tokenJson, type DisplayText } from '../src/page/token-display.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const utf8 = (text: string) => new TextEncoder().encode(text);

/** Undoes the display: text pieces back to UTF-8 (␣ ↵ ⇥ back to space, line feed, tab), byte runs as they are. */
function shownBytes(text: DisplayText): Uint8Array {
  const parts = text.map((piece) => (typeof piece === 'string' ? utf8(piece.replace(/␣/g, ' ').replace(/↵/g, '\n').replace(/⇥/g, '\t')) : piece.bytes));
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

/** The display with byte runs written as hex, for readable expectations. */
function pieces(text: DisplayText): Array<string | { hex: string }> {
  return text.map((piece) => (typeof piece === 'string' ? piece : { hex: hexBytes(piece.bytes) }));
}

describe('tokenDisplay', () => {
  test('valid text stays text, with spaces, line breaks and tabs visible', () => {
    assert.deepEqual(pieces(tokenDisplay(utf8(' the'))), ['␣the']);
    assert.deepEqual(pieces(tokenDisplay(utf8('你好'))), ['你好']);
    assert.deepEqual(pieces(tokenDisplay(utf8('😀'))), ['😀']);
    assert.deepEqual(pieces(tokenDisplay(utf8('𠀀𪚥'))), ['𠀀𪚥']);
    assert.deepEqual(pieces(tokenDisplay(utf8('a\n\tb'))), ['a↵⇥b']);
    assert.deepEqual(pieces(tokenDisplay(utf8('\uFFFD'))), ['\uFFFD'], 'a U+FFFD in the prompt itself is text');
    assert.deepEqual(tokenDisplay(bytes()), []);
  });

  test('a truncated lead sequence and lone continuation bytes are bytes', () => {
    // 你 = E4 BD A0, split E4 BD | A0 by a byte-level tokenizer.
    assert.deepEqual(pieces(tokenDisplay(bytes(0xe4, 0xbd))), [{ hex: 'E4 BD' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0xa0))), [{ hex: 'A0' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0xbd, 0xa0))), [{ hex: 'BD A0' }]);
    // " 中" followed by the first byte of the next character.
    assert.deepEqual(pieces(tokenDisplay(bytes(0x20, 0xe4, 0xb8, 0xad, 0xe5))), ['␣中', { hex: 'E5' }]);
    // The end of one character, then a whole one.
    assert.deepEqual(pieces(tokenDisplay(bytes(0xa0, 0xe5, 0xa5, 0xbd))), [{ hex: 'A0' }, '好']);
  });

  test('a 4-byte character split 1+3 and 2+2 is bytes on both sides', () => {
    const [a, b, c, d] = utf8('𠀀'); // F0 A0 80 80
    assert.deepEqual(pieces(tokenDisplay(bytes(a))), [{ hex: 'F0' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(b, c, d))), [{ hex: 'A0 80 80' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(a, b))), [{ hex: 'F0 A0' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(c, d))), [{ hex: '80 80' }]);
    const emoji = utf8('😀'); // F0 9F 98 80
    assert.deepEqual(pieces(tokenDisplay(emoji.subarray(0, 2))), [{ hex: 'F0 9F' }]);
  });

  test('overlong forms, surrogates, code points above U+10FFFF and bytes that never occur are bytes', () => {
    assert.deepEqual(pieces(tokenDisplay(bytes(0xc0, 0x80))), [{ hex: 'C0 80' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0xe0, 0x80, 0x80))), [{ hex: 'E0 80 80' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0xed, 0xa0, 0x80))), [{ hex: 'ED A0 80' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0xf4, 0x90, 0x80, 0x80))), [{ hex: 'F4 90 80 80' }]);
    assert.deepEqual(pieces(tokenDisplay(bytes(0x61, 0xff, 0x62))), ['a', { hex: 'FF' }, 'b']);
  });

  test('control characters are shown as their byte; contextDisplay leaves whitespace as it is', () => {
    assert.deepEqual(pieces(tokenDisplay(bytes(0x1b, 0x5b, 0x30, 0x6d))), [{ hex: '1B' }, '[0m']);
    assert.deepEqual(pieces(tokenDisplay(bytes(0x7f))), [{ hex: '7F' }]);
    assert.deepEqual(pieces(contextDisplay(utf8('a b\n'))), ['a b\n']);
    assert.deepEqual(pieces(contextDisplay(bytes(0x20, 0xe4, 0xbd))), [' ', { hex: 'E4 BD' }]);
  });

  test('validity agrees with TextDecoder (fatal) on random byte strings, and the shown bytes are the token\'s', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    // Bias towards bytes of multi-byte sequences, so that valid and invalid strings both occur often.
    const alphabet = [0x20, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe4, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    let valid = 0;
    for (let n = 0; n < 20000; n++) {
      const token = Uint8Array.from({ length: 1 + (random() % 6) }, () => alphabet[random() % alphabet.length]);
      let decodes = true;
      try {
        strict.decode(token);
      } catch {
        decodes = false;
      }
      assert.equal(isValidUtf8(token), decodes, hexBytes(token));
      if (decodes) valid++;
      const shown = tokenDisplay(token);
      assert.deepEqual(shownBytes(shown), token, hexBytes(token));
      assert.ok(!displayPlain(shown).includes('\uFFFD'), hexBytes(token));
      // Text pieces are never empty, and neighbours alternate between text and bytes.
      shown.forEach((piece, i) => {
        if (typeof piece === 'string') assert.ok(piece.length > 0);
        if (i > 0) assert.notEqual(typeof piece, typeof shown[i - 1]);
      });
    }
    assert.ok(valid > 1000 && valid < 19000, `${valid} valid strings: both kinds must be exercised`);
  });
});

describe('the three forms', () => {
  test('terminal and tooltip text writes bytes as \\xE4\\xBD', () => {
    assert.equal(displayPlain(tokenDisplay(bytes(0xe4, 0xbd))), '\\xE4\\xBD');
    assert.equal(displayPlain(tokenDisplay(bytes(0x20, 0xe4, 0xb8, 0xad, 0xe5))), '␣中\\xE5');
  });

  test('HTML puts bytes in a span.bytes as hex', () => {
    assert.equal(bytesHtml(bytes(0xe4, 0xbd)), '<span class="bytes" title="bytes that are not text on their own">E4 BD</span>');
  });

  test('JSON carries bytes_hex (every byte of the token) only where the token is not valid UTF-8 alone', () => {
    assert.deepEqual(tokenJson(utf8(' 你好')), { text: ' 你好' });
    assert.deepEqual(tokenJson(bytes(0xe4, 0xbd)), { text: '\\xE4\\xBD', bytes_hex: 'E4 BD' });
    assert.deepEqual(tokenJson(bytes(0x20, 0xe4, 0xb8, 0xad, 0xe5)), { text: ' 中\\xE5', bytes_hex: '20 E4 B8 AD E5' });
    assert.deepEqual(tokenJson(bytes(0x1b)), { text: '\x1b' }, 'a control character is valid UTF-8: JSON escapes it itself');
  });
});
