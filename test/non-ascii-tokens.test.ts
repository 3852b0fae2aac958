/**
 * Prompts in Chinese, Japanese, Korean, emoji and rare CJK characters through a byte-level tokenizer trained
 * on few merges, so that tokens split multi-byte characters (E4 BD | A0, F0 9F | 98 80): route -> report, diff
 * and wic. No output (HTML, SUMMARY.json, DIFF.json, wic.json, terminal) holds U+FFFD, and the tokens the pages
 * show decode back to exactly the trace's bytes for them, byte runs from their span.bytes hex; diff context
 * starts and ends on character boundaries of the prompt.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { diffCheckpoints } from '../src/diff/diff.js';
import { runReport } from '../src/report/report.js';
import { summaryTable } from '../src/report/summary.js';
import { route } from '../src/route/route.js';
import { trainByteLevelBpe } from '../src/synth/bpe-trainer.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace, type Trace } from '../src/trace.js';
import { runWic } from '../src/wic/wic.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const lines = [
  '我喜欢在银行旁边的河岸散步，银行的人很多。',
  '東京の桜はとても美しいです。ありがとうございます。',
  '한국어 문장은 띄어쓰기를 합니다. 감사합니다!',
  'Emoji 😀🎉🚀 and 👍🏽 and 😀😀 too',
  '罕见字：𠀀𪚥𠀀𪚥，还有𠀀。',
  '中文、日本語、한국어 and English mixed 😀 together.',
];
/** Each line six times over with a number, so that tokens occur often enough for the specialization tables. */
const promptLines = Array.from({ length: 6 }, (_, i) => lines.map((line) => `${line} ${i}`)).flat();

const dir = tempDir('non-ascii');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const models = { a: path.join(dir, 'a'), b: path.join(dir, 'b') };
const prompts = path.join(dir, 'prompts.txt');
const traceFile = path.join(dir, 'prompts.trace.safetensors');
let trace: Trace;

before(async () => {
  await synthesize({ preset: 'tiny', out: models.a, seed: 3, dtype: 'f32' });
  await synthesize({ preset: 'tiny', out: models.b, seed: 3, dtype: 'f32', perturb: [1, 3, 5, 7].map((expert) => ({ layer: 1, expert, scale: 4 })) });
  // 40 merges over BOS, EOS and the 256 bytes: common byte pairs of CJK characters merge, whole characters rarely.
  const { tokenizer, tokenizerConfig } = trainByteLevelBpe(lines.join('\n'), { vocabSize: 2 + 256 + 40 });
  for (const model of Object.values(models)) {
    fs.writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tokenizer));
    fs.writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  }
  fs.writeFileSync(prompts, `${promptLines.join('\n')}\n`);
  await route({ prompts, model: models.a, out: traceFile, device: 'cpu' });
  trace = openTrace(traceFile);
});
after(() => trace?.close());

const utf8 = (text: string) => new TextEncoder().encode(text);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A table cell's HTML back to bytes: entities unescaped, ␣ ↵ ⇥ back to whitespace, span.bytes hex as bytes. */
function cellBytes(html: string): Uint8Array {
  const out: number[] = [];
  const parts = html.split(/<span class="bytes"[^>]*>([0-9A-F ]+)<\/span>/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) out.push(...part.split(' ').map((h) => parseInt(h, 16)));
    else {
      const text = part.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
      out.push(...utf8(text.replace(/␣/g, ' ').replace(/↵/g, '\n').replace(/⇥/g, '\t')));
    }
  });
  return Uint8Array.from(out);
}

/** The body rows of the table in the section titled `title`, as cell HTML. */
function tableRows(html: string, title: string): string[][] {
  const start = html.indexOf(`<h2>${title}</h2>`);
  assert.ok(start >= 0, `section "${title}"`);
  const section = html.slice(start, html.indexOf('</section>', start));
  const body = section.slice(section.indexOf('<tbody>'), section.indexOf('</tbody>'));
  return [...body.matchAll(/<tr>(.*?)<\/tr>/gs)].map((row) => [...row[1].matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((cell) => cell[1]));
}

function assertNoReplacementCharacter(text: string, what: string): void {
  const at = text.indexOf('\uFFFD');
  assert.equal(at, -1, `${what} holds U+FFFD: ...${text.slice(Math.max(0, at - 60), at + 20)}...`);
}

describe('tokens that split characters', () => {
  test('the tokenizer does split characters (this test would prove nothing otherwise)', () => {
    const tokens = Array.from({ length: trace.nTokens }, (_, t) => trace.tokenBytes(t));
    const invalid = tokens.filter((bytes) => bytes.length > 0 && !isValidUtf8(bytes));
    assert.ok(invalid.length > 100, `${invalid.length} tokens are not UTF-8 on their own`);
    const emojiLead = tokens.some((bytes) => hex(bytes) === 'f09f');
    const rareSplit = tokens.some((bytes) => bytes.length > 0 && bytes[bytes.length - 1] === 0xf0);
    assert.ok(emojiLead || rareSplit, 'some 4-byte character is split');
    assert.ok(tokens.some((bytes) => bytes.length > 1 && isValidUtf8(bytes) && /[^\x00-\x7f]/.test(strictUtf8.decode(bytes))), 'some token holds whole non-ASCII characters');
  });

  test('report: no U+FFFD in the HTML, SUMMARY.json or the terminal table; shown tokens are the trace\'s bytes', () => {
    const out = path.join(dir, 'report.html');
    const json = path.join(dir, 'summary.json');
    const { summary } = runReport([traceFile], { out, json });
    const html = fs.readFileSync(out, 'utf8');
    assertNoReplacementCharacter(html, 'report.html');
    assertNoReplacementCharacter(fs.readFileSync(json, 'utf8'), 'SUMMARY.json');
    assertNoReplacementCharacter(summaryTable(summary), 'the terminal table');

    // The token column against the id column: the shown bytes are those of that token id in the trace.
    const bytesOfId = new Map<number, Uint8Array>();
    for (let t = trace.nTokens - 1; t >= 0; t--) bytesOfId.set(trace.tokenIds[t], trace.tokenBytes(t));
    const rows = tableRows(html, 'Token specialization');
    assert.ok(rows.length > 0);
    let shownAsBytes = 0;
    // Columns: layer, token, id, ... (one input: its name is in the facts, not in every row).
    for (const [, token, id] of rows) {
      assert.equal(hex(cellBytes(token)), hex(bytesOfId.get(Number(id))!), `token id ${id}: ${token}`);
      if (token.includes('class="bytes"')) shownAsBytes++;
    }
    assert.ok(shownAsBytes > 0, 'some listed token is not UTF-8 on its own');
    assert.ok((html.match(/<span class="bytes"/g) ?? []).length > shownAsBytes, 'the per-expert token tables show bytes too');

    // The token overlay's data: every embedded token is the trace's, as text where UTF-8 alone, else with its bytes in hex.
    const overlay = JSON.parse(/<script type="application\/json" class="overlay-data">([^<]*)<\/script>/.exec(html)![1]) as { items: Array<{ tokens: Array<{ text: string; bytes_hex?: string }> }> };
    let t = 0;
    let overlayBytes = 0;
    for (const item of overlay.items) {
      for (const token of item.tokens) {
        const bytes = trace.tokenBytes(t++);
        if (bytes.length === 0) continue;
        if (isValidUtf8(bytes)) assert.equal(token.text, strictUtf8.decode(bytes));
        else {
          assert.equal(token.bytes_hex!.replace(/ /g, '').toLowerCase(), hex(bytes));
          overlayBytes++;
        }
      }
    }
    assert.ok(overlayBytes > 0, 'the overlay shows some token as bytes');
  });

  test('diff: no U+FFFD; the changed token is its bytes, and its context is the prompt around it cut at character boundaries', async () => {
    const out = path.join(dir, 'diff', 'diff.html');
    const json = path.join(dir, 'diff', 'diff.json');
    const { routing } = await diffCheckpoints({ modelA: models.a, modelB: models.b, prompts, out, json, device: 'cpu' });
    const html = fs.readFileSync(out, 'utf8');
    assertNoReplacementCharacter(html, 'diff.html');
    assertNoReplacementCharacter(fs.readFileSync(json, 'utf8'), 'DIFF.json');
    const rows = tableRows(html, 'Tokens whose routing changed most');
    assert.equal(rows.length, routing!.mostChanged.length);
    assert.ok(rows.length > 0, 'the perturbed experts change some routing');
    let splitCharacters = 0;
    for (const [promptCell, positionCell, beforeCell, tokenCell, afterCell] of rows) {
      // The diff names a prompt by its line in the prompts file (one prompt per line here, no blank lines).
      const p = Array.from(trace.promptLines!).indexOf(Number(/^line (\d+)$/.exec(promptCell)![1]));
      assert.ok(p >= 0, promptCell);
      const t = trace.promptOffsets[p] + Number(positionCell);
      const token = cellBytes(tokenCell);
      assert.equal(hex(token), hex(trace.tokenBytes(t)), `prompt ${p + 1} position ${positionCell}`);
      if (!isValidUtf8(token)) splitCharacters++;
      // The prompt's bytes, and where the token lies in them.
      const promptBytes = utf8(trace.promptText(p));
      let start = 0;
      for (let u = trace.promptOffsets[p]; u < t; u++) start += trace.tokenBytes(u).length;
      const end = start + token.length;
      const beforeBytes = cellBytes(beforeCell);
      const afterBytes = cellBytes(afterCell);
      assert.equal(hex(beforeBytes), hex(promptBytes.subarray(start - beforeBytes.length, start)), 'before is the prompt just before the token');
      assert.equal(hex(afterBytes), hex(promptBytes.subarray(end, end + afterBytes.length)), 'after is the prompt just after the token');
      const isBoundary = (i: number) => i <= 0 || i >= promptBytes.length || (promptBytes[i] & 0xc0) !== 0x80;
      if (beforeBytes.length > 0) assert.ok(isBoundary(start - beforeBytes.length), `before starts inside a character: ${beforeCell}`);
      if (afterBytes.length > 0) assert.ok(isBoundary(end + afterBytes.length), `after ends inside a character: ${afterCell}`);
    }
    assert.ok(splitCharacters > 0, 'some changed token is not UTF-8 on its own');
  });

  test('wic: the tokens found for a CJK word are shown as their bytes; no U+FFFD in the page or wic.json', async () => {
    const data = path.join(dir, 'wic.data.txt');
    const gold = path.join(dir, 'wic.gold.txt');
    fs.writeFileSync(data, ['银行\tN\t2-0\t我 在 银行 工作\t银行 的 人 很多', '東京\tN\t0-1\t東京 の 桜\t私は 東京 に 行く', '한국어\tN\t0-1\t한국어 문장\t저는 한국어 공부', '😀\tN\t1-0\tEmoji 😀 here\t😀 again'].join('\n'));
    fs.writeFileSync(gold, 'T\nT\nF\nT\n');
    const result = await runWic({ data, gold, model: models.a, out: path.join(dir, 'wic'), device: 'cpu', skipBadPairs: true });
    const html = fs.readFileSync(result.files.report, 'utf8');
    assertNoReplacementCharacter(html, 'wic report.html');
    assertNoReplacementCharacter(fs.readFileSync(result.files.json, 'utf8'), 'wic.json');
    const wicTrace = openTrace(result.files.trace);
    try {
      const rows = tableRows(html, 'Pairs and the tokens found for the word');
      let shownAsBytes = 0;
      result.wic.pairs.forEach((pair, i) => {
        pair.tokens.forEach((range, s) => {
          const cell = rows[i][4 + 2 * s];
          if (!range) return assert.equal(cell, 'not found');
          const expected = Array.from({ length: range[1] - range[0] + 1 }, (_, k) => hex(wicTrace.tokenBytes(range[0] + k)));
          // "tok" + "tok": the cell's quoted tokens, each decoded from its HTML.
          const shown = cell.slice('&quot;'.length, -'&quot;'.length).split('&quot; + &quot;').map((token) => hex(cellBytes(token)));
          assert.deepEqual(shown, expected, `pair ${i} sentence ${s + 1}: ${cell}`);
          if (cell.includes('class="bytes"')) shownAsBytes++;
        });
      });
      assert.ok(shownAsBytes > 0, 'some word token is not UTF-8 on its own');
      assert.ok(result.wic.pairs[3].skipped, 'an emoji has no letters: that pair cannot be located');
    } finally {
      wicTrace.close();
    }
  });

  test('on the command line: report prints no U+FFFD', () => {
    const run = runCli(['report', traceFile, '--out', path.join(dir, 'cli.html'), '--json', path.join(dir, 'cli.json')]);
    assert.equal(run.code, 0, run.stderr);
    assertNoReplacementCharacter(run.stdout + run.stderr, 'the terminal output');
  });
});
