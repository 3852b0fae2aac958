import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { firstInvalidUtf8, readPromptFile, readPrompts } from '../src/loaders/prompts.js';
import { repoRoot } from './helpers/cli.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const scratch = tempDir('prompts');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function promptsFile(name: string, content: string | Uint8Array): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, content);
  return file;
}

/** Matches an InputError by code, with a message that names the file and says `detail`. */
const rejects = (code: string, file: string, detail: RegExp) => (error: unknown) =>
  error instanceof InputError && error.code === code && error.message.startsWith(`${file}: `) && detail.test(error.message) && !error.message.includes('\n');

describe('readPrompts', () => {
  test('text: one prompt per line; blank lines skipped and counted, \\r\\n handled, other whitespace kept; each prompt\'s line', () => {
    const file = promptsFile('p.txt', 'first prompt\r\n\r\n   \n  indented second\t\nthird\n');
    assert.deepEqual(readPromptFile(file), {
      prompts: [
        { text: 'first prompt', line: 1 },
        { text: '  indented second\t', line: 4 },
        { text: 'third', line: 5 },
      ],
      blankLines: 2,
    });
    // Without a final newline, and with blank lines at both ends.
    assert.deepEqual(readPromptFile(promptsFile('ends.txt', '\n\nonly\n\n')), { prompts: [{ text: 'only', line: 3 }], blankLines: 3 });
    assert.deepEqual(readPromptFile(promptsFile('no-newline.txt', 'a\nb')), { prompts: [{ text: 'a', line: 1 }, { text: 'b', line: 2 }], blankLines: 0 });
  });

  test('text: a UTF-8 byte-order mark is not part of the first prompt', () => {
    const file = promptsFile('bom.txt', '\ufeffcafé 🚀\n');
    assert.deepEqual(readPrompts(file), [{ text: 'café 🚀', line: 1 }]);
  });

  test('jsonl: text and optional label (null means none)', () => {
    const file = promptsFile('p.jsonl', '{"text": "a river bank", "label": "geo"}\n\n{"text": "a savings bank"}\r\n{"text": "x", "label": null}\n');
    assert.deepEqual(readPrompts(file), [
      { text: 'a river bank', label: 'geo', line: 1 },
      { text: 'a savings bank', line: 3 },
      { text: 'x', line: 4 },
    ]);
  });

  test('the bundled demo prompts: 300 to 400 lines of 20 to 200 characters', () => {
    const prompts = readPrompts(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'));
    assert.ok(prompts.length >= 300 && prompts.length <= 400, `${prompts.length} prompts`);
    for (const { text } of prompts) assert.ok(text.length >= 20 && text.length <= 200, text);
    assert.equal(new Set(prompts.map((p) => p.text)).size, prompts.length, 'no duplicates');
  });

  test('missing file', () => {
    const file = path.join(scratch, 'absent.txt');
    assert.throws(() => readPrompts(file), rejects('prompts-missing', file, /no such file$/));
  });

  test('not UTF-8: the message gives the byte offset of the bad sequence', () => {
    const file = promptsFile('latin1.txt', Uint8Array.from([...Buffer.from('ok line\nna'), 0xef, 0x76, 0x65, 0x0a]));
    assert.throws(() => readPrompts(file), rejects('not-utf8', file, /byte offset 10 \(ef 76 65 0a\)/));
  });

  test('no prompts: empty file', () => {
    const file = promptsFile('empty.txt', '');
    assert.throws(() => readPrompts(file), rejects('prompts-empty', file, /no prompts/));
  });

  test('no prompts: only blank lines', () => {
    const file = promptsFile('blank.jsonl', '\n \r\n\t\n');
    assert.throws(() => readPrompts(file), rejects('prompts-empty', file, /no prompts/));
  });

  test('jsonl: a line that is not JSON names its line number', () => {
    const file = promptsFile('bad.jsonl', '{"text": "fine"}\n\n{"text": oops}\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-not-json', file, /line 3: not valid JSON/));
  });

  test('jsonl: a line that is not an object', () => {
    const file = promptsFile('array.jsonl', '["text"]\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-not-object', file, /line 1: expected an object/));
  });

  test('jsonl: no "text" field', () => {
    const file = promptsFile('notext.jsonl', '{"text": "fine"}\n{"prompt": "hello"}\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-text', file, /line 2: "text" must be a string, found no "text" field/));
  });

  test('jsonl: "text" that is not a string', () => {
    const file = promptsFile('numtext.jsonl', '{"text": 42}\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-text', file, /line 1: "text" must be a string, found 42/));
  });

  test('jsonl: blank "text"', () => {
    const file = promptsFile('blanktext.jsonl', '{"text": "  "}\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-text', file, /line 1: "text" is blank/));
  });

  test('jsonl: a label that is not a string', () => {
    const file = promptsFile('label.jsonl', '{"text": "a", "label": 3}\n');
    assert.throws(() => readPrompts(file), rejects('prompts-jsonl-label', file, /line 1: "label" must be a string, found 3/));
  });
});

describe('firstInvalidUtf8', () => {
  test('hand-picked ill-formed sequences', () => {
    const at = (...bytes: number[]) => firstInvalidUtf8(Uint8Array.from(bytes));
    assert.equal(at(0x61, 0xc3, 0xa9), -1); // é
    assert.equal(at(0xf0, 0x9f, 0x9a, 0x80), -1); // 🚀
    assert.equal(at(0x61, 0xc0, 0x80), 1); // overlong NUL
    assert.equal(at(0xe0, 0x80, 0x80), 0); // overlong 3-byte
    assert.equal(at(0xed, 0xa0, 0x80), 0); // surrogate U+D800
    assert.equal(at(0xf4, 0x90, 0x80, 0x80), 0); // U+110000
    assert.equal(at(0x61, 0x62, 0xe2, 0x82), 2); // cut short at the end
    assert.equal(at(0x80), 0); // lone continuation byte
  });

  test('agrees with TextDecoder on random byte strings, and everything before the offset decodes', () => {
    const random = seededRandom(7);
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const valid = new TextEncoder().encode('aé€🚀日');
    for (let trial = 0; trial < 2000; trial++) {
      // Mostly well-formed text with a few random bytes spliced in, so errors turn up at varied offsets.
      const bytes: number[] = [];
      const length = 1 + Math.floor(random() * 12);
      for (let i = 0; i < length; i++) {
        if (random() < 0.15) bytes.push(Math.floor(random() * 256));
        else bytes.push(...valid.subarray(...[[0, 1], [1, 3], [3, 6], [6, 10], [10, 13]][Math.floor(random() * 5)]));
      }
      const data = Uint8Array.from(bytes);
      const offset = firstInvalidUtf8(data);
      let decodes = true;
      try {
        strict.decode(data);
      } catch {
        decodes = false;
      }
      assert.equal(offset === -1, decodes, `bytes ${bytes.join(',')}`);
      if (offset >= 0) assert.doesNotThrow(() => strict.decode(data.subarray(0, offset)));
    }
  });
});
