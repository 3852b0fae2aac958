import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { readWicData } from '../src/wic/wic-data.js';
import { repoRoot } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('wic-data');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let written = 0;
/** Writes a data file and a gold file; returns their paths. */
function files(data: string | Uint8Array, gold: string): { data: string; gold: string } {
  written += 1;
  const paths = { data: path.join(dir, `data-${written}.txt`), gold: path.join(dir, `gold-${written}.txt`) };
  fs.writeFileSync(paths.data, data);
  fs.writeFileSync(paths.gold, gold);
  return paths;
}

/** Expects readWicData to fail with `code`, a message naming `file` and matching `pattern`. */
function rejects(paths: { data: string; gold: string }, code: string, file: 'data' | 'gold', pattern: RegExp): void {
  assert.throws(
    () => readWicData(paths.data, paths.gold),
    (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.equal(error.code, code, error.message);
      assert.ok(error.message.startsWith(`${paths[file]}: `), `"${error.message}" should start with the ${file} file`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

const line = (word: string, indices: string, s1: string, s2: string) => `${word}\tN\t${indices}\t${s1}\t${s2}`;

describe('readWicData', () => {
  test('reads the fixture line for line with its labels', () => {
    const fixture = path.join(repoRoot(), 'test', 'fixtures', 'wic');
    const pairs = readWicData(path.join(fixture, 'data.txt'), path.join(fixture, 'gold.txt'));
    assert.equal(pairs.length, 22);
    assert.deepEqual(pairs[0], {
      index: 0,
      word: 'bank',
      pos: 'N',
      wordIndices: [4, 1],
      sentences: ['He sat on the bank of the river.', 'The bank approved my loan yesterday.'],
      same: false,
    });
    assert.equal(pairs[1].same, true);
    assert.deepEqual(pairs.map((p) => p.index), Array.from({ length: 22 }, (_, i) => i));
  });

  test('accepts CRLF line ends, a byte-order mark and trailing blank lines; keeps the sentences as written', () => {
    const paths = files(`\ufeff${line('bank', '1-0', 'The  bank, ok ', 'Bank!')}\r\n${line('run', '0-0', 'ran', 'run')}\r\n\r\n`, 'T\r\nF\n\n');
    const pairs = readWicData(paths.data, paths.gold);
    assert.deepEqual(pairs.map((p) => [p.word, p.wordIndices, p.sentences, p.same]), [
      ['bank', [1, 0], ['The  bank, ok ', 'Bank!'], true],
      ['run', [0, 0], ['ran', 'run'], false],
    ]);
  });

  test('refuses a missing data file and a missing gold file', () => {
    const paths = files(line('a', '0-0', 'a', 'a'), 'T\n');
    rejects({ data: path.join(dir, 'nope.txt'), gold: paths.gold }, 'wic-data-missing', 'data', /no such file$/);
    rejects({ data: paths.data, gold: path.join(dir, 'nope.txt') }, 'wic-gold-missing', 'gold', /no such file$/);
  });

  test('refuses an empty data file', () => {
    rejects(files('\n\n', ''), 'wic-data-empty', 'data', /no pairs/);
  });

  test('refuses a data file that is not UTF-8', () => {
    rejects(files(Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x0a), 'T\n'), 'not-utf8', 'data', /UTF-8/);
  });

  test('refuses a blank line between pairs, naming it', () => {
    rejects(files(`${line('a', '0-0', 'a', 'a')}\n\n${line('a', '0-0', 'a', 'a')}\n`, 'T\nF\n'), 'wic-blank-line', 'data', /line 2 is blank/);
  });

  test('refuses a line without five fields, naming the line and the count', () => {
    rejects(files(`${line('a', '0-0', 'a', 'a')}\nbank\tN\t0-0\tone sentence\n`, 'T\nF\n'), 'wic-data-fields', 'data', /line 2: expected 5 tab-separated fields .* found 4/);
  });

  test('refuses an i-j field that is not two indices', () => {
    rejects(files(line('bank', '1:2', 'a bank', 'the bank'), 'T\n'), 'wic-data-indices', 'data', /line 1: field 3 must be i-j.*"1:2"/);
    rejects(files(line('bank', '-1-2', 'a bank', 'the bank'), 'T\n'), 'wic-data-indices', 'data', /line 1: field 3/);
  });

  test('refuses a blank word and a blank sentence', () => {
    rejects(files(line(' ', '0-0', 'a', 'a'), 'T\n'), 'wic-data-word', 'data', /line 1: the word .* blank/);
    rejects(files(line('bank', '0-0', 'bank', '  '), 'T\n'), 'wic-data-sentence', 'data', /line 1: sentence 2 .* blank/);
  });

  test('refuses a gold label other than T or F, naming the line and the value', () => {
    rejects(files(`${line('a', '0-0', 'a', 'a')}\n${line('a', '0-0', 'a', 'a')}\n`, 'T\ntrue\n'), 'wic-gold-label', 'gold', /line 2: expected T .* or F .*found "true"/);
  });

  test('refuses a gold file whose count differs from the data lines', () => {
    rejects(files(`${line('a', '0-0', 'a', 'a')}\n${line('a', '0-0', 'a', 'a')}\n`, 'T\n'), 'wic-gold-count', 'gold', /has 1 labels but .* has 2 pairs/);
  });
});
