/**
 * `moe-inspect wic` end to end on the project's own WiC-format fixture and a tiny synthesized model:
 * wic.json as contract.md gives it, tokens that are the word, figures recomputed independently from the
 * trace, errors and --skip-bad-pairs, the report page (escaped, rendered in Chromium) and the CLI.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { escapeHtml } from '../src/page/html.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace, type Trace } from '../src/trace.js';
import { readWicData } from '../src/wic/wic-data.js';
import { analyseWic, runWic } from '../src/wic/wic.js';
import type { WicJson, WicResult } from '../src/wic/wic-result.js';
import { chromiumMissing, withPage } from './helpers/chromium.js';
import { repoRoot, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const fixture = path.join(repoRoot(), 'test', 'fixtures', 'wic');
const dataFile = path.join(fixture, 'data.txt');
const goldFile = path.join(fixture, 'gold.txt');

/** The fixture's sentences with the target word in brackets, marked by hand: the truth the tokens must match. */
const markedFixture: Array<[string, string]> = [
  ['He sat on the [bank] of the river.', 'The [bank] approved my loan yesterday.'],
  ['The [banks] were closed on Monday.', 'Our [bank] charges a fee for every transfer.'],
  ['We walked along the river [banks], slowly.', 'Grass grew thick on the steep [bank] of the stream.'],
  ['The bank near the other [bank] was robbed.', 'Call the ([bank]) before noon.'],
  ["The [bank]'s vault was empty.", 'Fish gathered near the muddy [bank].'],
  ['She was [running] late again.', 'They [ran] the company for decades.'],
  ['He [runs] every morning before work.', 'The children [ran] across the field.'],
  ['Who will [run] the meeting today?', '[Running] a business takes patience.'],
  ['[Light] travels faster than sound.', 'Turn off the [light], please.'],
  ['The “[light]” from the window was warm.', 'Sunlight is natural [light].'],
  ['This bag is [light] enough to carry.', 'Über café owners prefer [light] furniture.'],
  ['She is a world-[famous] singer.', 'The town is [famous] for its cheese.'],
  ['[Photosynthesis] needs sunlight.', 'Plants use [photosynthesis] to make sugar.'],
  ["We met at five [o'clock].", "The train leaves at nine [o'clock] sharp."],
  ['The cat chased three [mice] around the barn.', 'Click the left button of the [mouse].'],
  ['The children [played] in the garden.', 'She [plays] the violin beautifully.'],
  ['The  new [play] opens on Friday.', 'The [play] was long but moving.'],
  ['Leave a [note] on the fridge.', 'She sang a high [note] at the end.'],
  ['Take [notes] during the lecture.', 'He wrote a short [note] to his mother.'],
  ['Flowers bloom in [spring].', 'The old mattress has a broken [spring].'],
  ['The water came from a [spring] in the hills.', 'A cold [spring] fed the pond.'],
  ['I caught a [cold] last week.', 'The [cold] made my hands numb.'],
];

function unmark(text: string): { sentence: string; word: string; span: [number, number] } {
  const open = text.indexOf('[');
  const close = text.indexOf(']');
  const start = Buffer.byteLength(text.slice(0, open));
  return {
    sentence: text.slice(0, open) + text.slice(open + 1, close) + text.slice(close + 1),
    word: text.slice(open + 1, close),
    span: [start, start + Buffer.byteLength(text.slice(open + 1, close))],
  };
}

/**
 * wic.json's per-layer figures recomputed from the trace with sets and pair counting (not the project's
 * overlap or AUC code): overlap of the chosen token's expert sets, means per label, AUC over all pairs.
 */
function bruteForce(trace: Trace, wic: WicJson, labels: boolean[], pick: 'first' | 'last') {
  const { k: K, nExperts: E } = trace;
  const L = trace.layers.length;
  const ids = trace.readTopkIds(0, trace.nTokens);
  return trace.layers.map((layer, l) => {
    const same: number[] = [];
    const diff: number[] = [];
    wic.pairs.forEach((pair, i) => {
      if (pair.skipped) return;
      const sets = pair.tokens.map((range) => {
        const t = pick === 'first' ? range![0] : range![1];
        return new Set(Array.from(ids.subarray((t * L + l) * K, (t * L + l + 1) * K)));
      });
      const shared = [...sets[0]].filter((e) => sets[1].has(e)).length;
      (labels[i] ? same : diff).push(shared / K);
    });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    let wins = 0;
    for (const s of same) for (const d of diff) wins += s > d ? 1 : s === d ? 0.5 : 0;
    const chance = K / E;
    return {
      layer,
      overlap_same: mean(same),
      overlap_diff: mean(diff),
      kappa_same: (mean(same) - chance) / (1 - chance),
      kappa_diff: (mean(diff) - chance) / (1 - chance),
      auc: wins / (same.length * diff.length),
    };
  });
}

function assertClose(actual: WicJson['per_layer'], expected: ReturnType<typeof bruteForce>): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((row, i) => {
    for (const [key, value] of Object.entries(expected[i])) {
      const got = row[key as keyof typeof row] as number;
      assert.ok(Math.abs(got - value) < 1e-12, `layer ${row.layer} ${key}: ${got}, expected ${value}`);
    }
  });
}

function writePairs(dir: string, name: string, lines: Array<[string, string, string, string, string]>): { data: string; gold: string } {
  const data = path.join(dir, `${name}.data.txt`);
  const gold = path.join(dir, `${name}.gold.txt`);
  fs.writeFileSync(data, lines.map(([word, indices, s1, s2]) => `${word}\tN\t${indices}\t${s1}\t${s2}\n`).join(''));
  fs.writeFileSync(gold, lines.map((line) => `${line[4]}\n`).join(''));
  return { data, gold };
}

/** Pairs with a bad third line (its index is past the sentence's end) and a sentence with markup in it. */
const withBadLine: Array<[string, string, string, string, string]> = [
  ['bank', '4-1', 'He sat on the bank of the river.', 'The bank approved my loan.', 'F'],
  ['bank', '1-1', 'The banks were closed.', 'Our bank charges a fee.', 'T'],
  ['bank', '9-1', 'The bank is here.', 'A bank.', 'T'],
  ['note', '1-2', '<script>alert(1)</script> notes & <b>bold</b> words', 'A short note.', 'F'],
];

/** Line 2 points at "shore" for "bank" and line 4 one word past "bank" (suspect); line 3 is an irregular form (not suspect). */
const withSuspects: Array<[string, string, string, string, string]> = [
  ['bank', '4-1', 'He sat on the bank of the river.', 'The bank approved my loan.', 'F'],
  ['bank', '4-1', 'He sat on the shore of the river.', 'The bank approved my loan.', 'T'],
  ['buy', '1-2', 'I bought bread yesterday.', 'They will buy it.', 'T'],
  ['bank', '5-1', 'He sat on the bank of the river.', 'Our bank charges a fee.', 'F'],
  ['bank', '1-1', 'The banks were closed.', 'Our bank charges a fee.', 'T'],
  ['note', '2-4', 'Leave a note on the fridge.', 'She sang a high note at the end.', 'F'],
];

describe('wic end to end', () => {
  let dir: string;
  let model: string;
  let result: WicResult;
  before(async () => {
    dir = tempDir('wic');
    model = path.join(dir, 'model');
    await synthesize({ preset: 'tiny', out: model, seed: 1, dtype: 'f32', planted: true });
    result = await runWic({ data: dataFile, gold: goldFile, model, out: path.join(dir, 'out'), device: 'cpu' });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the report shows each pair\'s two sentences with the target word\'s tokens marked', () => {
    const html = fs.readFileSync(result.files.report, 'utf8');
    const json = /<script type="application\/json" class="overlay-data">([^<]*)<\/script>/.exec(html);
    assert.ok(json, 'the report embeds the overlay');
    const items = JSON.parse(json[1]).items as Array<{ title: string; tokens: Array<{ text: string }>; mark?: [number, number] }>;
    assert.equal(items.length, 2 * result.wic.pairs.length);
    items.forEach((item, i) => {
      const expected = result.wordTokenBytes[Math.floor(i / 2)][i % 2]?.map((bytes) => Buffer.from(bytes).toString('utf8')) ?? null;
      const marked = item.mark ? item.tokens.slice(item.mark[0], item.mark[1] + 1).map((t) => t.text) : null;
      assert.deepEqual(marked, expected, `${item.title}: marked tokens`);
    });
  });

  test('the hand-marked sentences are the fixture\'s sentences', () => {
    const pairs = readWicData(dataFile, goldFile);
    assert.deepEqual(pairs.map((p) => p.sentences), markedFixture.map((pair) => pair.map((text) => unmark(text).sentence)));
  });

  test('writes wic.json, the trace and the report into OUT_DIR, and nothing else', () => {
    assert.deepEqual(fs.readdirSync(path.join(dir, 'out')).sort(), ['report.html', 'trace.safetensors', 'wic.json']);
    assert.deepEqual(JSON.parse(fs.readFileSync(result.files.json, 'utf8')), result.wic);
  });

  test('wic.json has the contract\'s keys, in order, with the trace\'s layers, K and E and the gold labels', () => {
    const wic = JSON.parse(fs.readFileSync(result.files.json, 'utf8'));
    assert.deepEqual(Object.keys(wic), ['layers', 'k', 'n_experts', 'word_token', 'pairs', 'suspect_pairs', 'per_layer']);
    assert.deepEqual(wic.suspect_pairs, [], 'every index of the fixture points at its word (irregular "mice", "ran" and "world-famous" included)');
    const trace = openTrace(result.files.trace);
    try {
      assert.deepEqual(wic.layers, trace.layers);
      assert.equal(wic.k, trace.k);
      assert.equal(wic.n_experts, trace.nExperts);
      assert.equal(wic.word_token, 'last');
      assert.equal(trace.nPrompts, 2 * markedFixture.length);
      const gold = fs.readFileSync(goldFile, 'utf8').trim().split('\n');
      const words = fs.readFileSync(dataFile, 'utf8').trim().split('\n').map((line) => line.split('\t')[0]);
      wic.pairs.forEach((pair: WicJson['pairs'][number], i: number) => {
        assert.deepEqual(Object.keys(pair), ['index', 'word', 'label', 'skipped', 'tokens']);
        assert.deepEqual([pair.index, pair.word, pair.label, pair.skipped], [i, words[i], gold[i] === 'T', false]);
        pair.tokens.forEach((range, s) => {
          const p = 2 * i + s;
          assert.equal(trace.promptText(p), unmark(markedFixture[i][s]).sentence);
          assert.ok(range![0] >= trace.promptOffsets[p] && range![0] <= range![1] && range![1] < trace.promptOffsets[p + 1], `pair ${i} sentence ${s}: ${range} outside prompt ${p}`);
        });
      });
      for (const row of wic.per_layer) assert.deepEqual(Object.keys(row), ['layer', 'overlap_same', 'overlap_diff', 'kappa_same', 'kappa_diff', 'auc', 'overlap_same_ci', 'overlap_diff_ci', 'auc_ci']);
      assert.deepEqual(wic.per_layer.map((row: { layer: number }) => row.layer), trace.layers);
    } finally {
      trace.close();
    }
  });

  test('the tokens of each pair are exactly the tokens that hold the hand-marked word', () => {
    const trace = openTrace(result.files.trace);
    let split = 0;
    try {
      result.wic.pairs.forEach((pair, i) => {
        pair.tokens.forEach((range, s) => {
          const { word, span } = unmark(markedFixture[i][s]);
          const [first, last] = range!;
          const texts = Array.from({ length: last - first + 1 }, (_, t) => trace.tokenText(first + t));
          const where = `pair ${i} sentence ${s + 1} ${JSON.stringify(texts)}`;
          assert.ok(texts.join('').includes(word), `${where} should spell ${word}`);
          if (texts.length > 1) split += 1;
          // Byte positions of the tokens in the sentence: the first token reaches into the word and the one
          // before it does not; the last token starts inside the word and the one after it does not.
          let start = 0;
          for (let t = trace.promptOffsets[2 * i + s]; t < first; t++) start += trace.tokenBytes(t).length;
          let end = start;
          for (let t = first; t <= last; t++) end += trace.tokenBytes(t).length;
          assert.ok(start <= span[0] && span[0] < start + trace.tokenBytes(first).length, `${where}: first token vs word bytes ${span}`);
          assert.ok(end - trace.tokenBytes(last).length < span[1] && span[1] <= end, `${where}: last token vs word bytes ${span}`);
        });
      });
    } finally {
      trace.close();
    }
    assert.ok(split >= 5, `the fixture should have several words split into more than one token, found ${split}`);
  });

  test('per-layer figures equal a brute-force recomputation from the trace, for the last and the first sub-token', () => {
    const labels = fs.readFileSync(goldFile, 'utf8').trim().split('\n').map((line) => line === 'T');
    const trace = openTrace(result.files.trace);
    try {
      assertClose(result.wic.per_layer, bruteForce(trace, result.wic, labels, 'last'));
      const first = analyseWic(trace, readWicData(dataFile, goldFile), { wordToken: 'first', data: dataFile });
      assert.equal(first.wic.word_token, 'first');
      assert.deepEqual(first.wic.pairs, result.wic.pairs);
      assertClose(first.wic.per_layer, bruteForce(trace, first.wic, labels, 'first'));
      assert.notDeepEqual(first.wic.per_layer, result.wic.per_layer, 'multi-token words make first and last differ');
    } finally {
      trace.close();
    }
  });

  test('a word that cannot be found is an error naming the data file and the 1-based line, before any routing', async () => {
    const files = writePairs(dir, 'bad', withBadLine);
    const out = path.join(dir, 'bad-out');
    await assert.rejects(runWic({ ...files, model, out, device: 'cpu' }), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.equal(error.code, 'wic-word-not-found');
      assert.match(error.message, new RegExp(`^${files.data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 3: cannot find the word "bank" in sentence 1: whitespace token 9 does not exist`));
      assert.match(error.message, /--skip-bad-pairs/);
      return true;
    });
    assert.ok(!fs.existsSync(out) || fs.readdirSync(out).length === 0, 'nothing written');
  });

  test('--skip-bad-pairs keeps the bad pair as skipped, its sentences in the trace, out of the figures; the report escapes sentences', async () => {
    const files = writePairs(dir, 'skip', withBadLine);
    const skip = await runWic({ ...files, model, out: path.join(dir, 'skip-out'), device: 'cpu', skipBadPairs: true });
    assert.deepEqual(skip.wic.pairs.map((p) => p.skipped), [false, false, true, false]);
    assert.deepEqual(skip.wic.pairs[2].tokens[0], null);
    assert.ok(Array.isArray(skip.wic.pairs[2].tokens[1]), 'the sentence where the word was found keeps its tokens');
    assert.deepEqual(skip.skipped.map((s) => s.index), [2]);
    assert.match(skip.skipped[0].problem, /sentence 1: whitespace token 9 does not exist/);

    const trace = openTrace(skip.files.trace);
    try {
      assert.equal(trace.nPrompts, 8);
      assert.equal(trace.promptText(4), 'The bank is here.');
      assertClose(skip.wic.per_layer, bruteForce(trace, skip.wic, withBadLine.map((line) => line[4] === 'T'), 'last'));
    } finally {
      trace.close();
    }

    const html = fs.readFileSync(skip.files.report, 'utf8');
    assert.ok(html.includes(escapeHtml(withBadLine[3][2])), 'the sentence appears, escaped');
    assert.ok(!html.includes('<script>alert(1)'), 'no raw markup from a sentence');
    assert.ok(!html.includes('<b>bold'), 'no raw markup from a sentence');
    assert.ok(html.includes('whitespace token 9 does not exist'), 'the skipped pair says why');
  });

  test('suspect pairs are listed in wic.json with one warning line, counted in the figures, and skipped with --skip-bad-pairs', async () => {
    const files = writePairs(dir, 'suspect', withSuspects);
    const labels = withSuspects.map((line) => line[4] === 'T');
    const expected = [
      { index: 1, sentence: 1, target: 'bank', found: 'shore' },
      { index: 3, sentence: 1, target: 'bank', found: 'of' },
    ];
    const warnings: string[] = [];
    const kept = await runWic({ ...files, model, out: path.join(dir, 'suspect-out'), device: 'cpu', warn: (line) => warnings.push(line) });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /: warning: 2 pairs whose index points at another word than the target, e\.g\. line 2, sentence 1: "shore" for "bank"/);
    assert.deepEqual(kept.wic.suspect_pairs, expected);
    assert.deepEqual(JSON.parse(fs.readFileSync(kept.files.json, 'utf8')).suspect_pairs, expected);
    assert.deepEqual(kept.wic.pairs.map((p) => p.skipped), [false, false, false, false, false, false]);
    assert.ok(fs.readFileSync(kept.files.report, 'utf8').includes('2 pairs whose index points at another word than the target are counted in the figures'));

    const skippedWarnings: string[] = [];
    const skip = await runWic({ ...files, model, out: path.join(dir, 'suspect-skip-out'), device: 'cpu', skipBadPairs: true, warn: (line) => skippedWarnings.push(line) });
    assert.equal(skippedWarnings.length, 1);
    assert.match(skippedWarnings[0], /; skipped$/);
    assert.deepEqual(skip.wic.suspect_pairs, expected);
    assert.deepEqual(skip.wic.pairs.map((p) => p.skipped), [false, true, false, true, false, false]);
    assert.deepEqual(skip.skipped.map((s) => [s.index, s.suspect]), [[1, true], [3, true]]);
    assert.match(skip.skipped[0].problem, /sentence 1: the word at the index is "shore", which does not look like "bank"/);
    const trace = openTrace(skip.files.trace);
    try {
      assertClose(kept.wic.per_layer, bruteForce(trace, kept.wic, labels, 'last'));
      assertClose(skip.wic.per_layer, bruteForce(trace, skip.wic, labels, 'last'));
      assert.notDeepEqual(skip.wic.per_layer, kept.wic.per_layer, 'leaving two pairs out changes the figures');
    } finally {
      trace.close();
    }
  });

  test('a sentence longer than the model allows is cut: a word past the cut is an error, or skipped', async () => {
    // The tiny preset allows 512 positions; 600 filler words put the word past the cut.
    const long = `${'then '.repeat(600)}the bank`;
    const files = writePairs(dir, 'long', [
      ['bank', '4-1', 'He sat on the bank of the river.', 'The bank approved my loan.', 'F'],
      ['bank', '601-1', long, 'A bank.', 'T'],
      ['bank', '1-1', 'The banks were closed.', 'Our bank charges a fee.', 'T'],
    ]);
    await assert.rejects(runWic({ ...files, model, out: path.join(dir, 'long-out'), device: 'cpu' }), (error: unknown) => {
      assert.ok(error instanceof InputError && error.code === 'wic-word-not-found', String(error));
      assert.match(error.message, /line 2: cannot find the word "bank" in sentence 1: .* past the sentence's routed tokens \(cut at the model's max_position_embeddings\)/);
      return true;
    });
    const skip = await runWic({ ...files, model, out: path.join(dir, 'long-skip-out'), device: 'cpu', skipBadPairs: true });
    assert.deepEqual(skip.wic.pairs.map((p) => p.skipped), [false, true, false]);
    const trace = openTrace(skip.files.trace);
    try {
      assert.equal(trace.promptOffsets[3] - trace.promptOffsets[2], 512, 'the long sentence is routed up to the limit');
    } finally {
      trace.close();
    }
  });

  test('the report renders every chart in Chromium with no request and no console error', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    await withPage(result.files.report, async ({ page, requests, errors }) => {
      await page.waitForFunction("document.querySelectorAll('[data-chart]:not([data-rendered])').length === 0", null, { timeout: 60_000 });
      const charts = await page.$$eval('[data-chart]', (elements) => elements.map((element) => element.querySelector('svg, canvas')?.getBoundingClientRect().height ?? 0));
      assert.equal(charts.length, 3, 'overlap, kappa and AUC');
      for (const height of charts) assert.ok(height > 50, `a chart drew nothing visible (${height} px)`);
      assert.deepEqual(requests.filter((url) => !/^(file|data|blob):/.test(url)), []);
      assert.deepEqual(errors, []);
      const pageWidth = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      assert.ok(pageWidth <= 1280, `page is ${pageWidth} px wide`);
    });
  });

  describe('on the command line', () => {
    test('prints the per-layer table and where the files are', () => {
      const files = writePairs(dir, 'cli', withBadLine.filter((_, i) => i !== 2));
      const out = path.join(dir, 'cli-out');
      const run = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', out, '--word-token', 'first']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /layer .*overlap same .*overlap diff .*gap .*kappa same .*kappa diff .*AUC/);
      assert.match(run.stdout, /3 pairs \(1 same sense, 2 different sense\)/);
      for (const name of ['trace.safetensors', 'wic.json', 'report.html']) assert.ok(run.stdout.includes(path.join(out, name)), `names ${name}`);
      assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'wic.json'), 'utf8')).word_token, 'first');
    });

    test('a bad line exits 1 with one line naming the file and the line; --skip-bad-pairs reports it on stderr', () => {
      const files = writePairs(dir, 'cli-bad', withBadLine);
      const out = path.join(dir, 'cli-bad-out');
      const bad = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', out]);
      assert.equal(bad.code, 1, bad.stderr);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, new RegExp(`${path.basename(files.data)}: line 3: cannot find the word`));
      const skipped = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', out, '--skip-bad-pairs']);
      assert.equal(skipped.code, 0, skipped.stderr);
      assert.match(skipped.stderr, /line 3: skipped: sentence 1: whitespace token 9 does not exist/);
    });

    test('suspect pairs give one warning line on stderr, with or without --skip-bad-pairs', () => {
      const files = writePairs(dir, 'cli-suspect', withSuspects);
      for (const skip of [[], ['--skip-bad-pairs']]) {
        const run = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', path.join(dir, 'cli-suspect-out'), ...skip]);
        assert.equal(run.code, 0, run.stderr);
        const lines = run.stderr.trim().split('\n').filter((line) => line !== '');
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0], /warning: 2 pairs whose index points at another word than the target, e\.g\. line 2, sentence 1: "shore" for "bank"/);
      }
    });

    test('when every pair is skipped, a last warning says no figure could be computed', () => {
      const files = writePairs(dir, 'cli-all-skipped', [withSuspects[1], withSuspects[3]]);
      const run = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', path.join(dir, 'cli-all-skipped-out'), '--skip-bad-pairs']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^0 pairs \(0 same sense, 0 different sense, 2 skipped\)/);
      assert.match(run.stderr, /cli-all-skipped[^\n]*: warning: every pair was skipped, so no figure could be computed/);
      const some = runCli(['wic', files.data, '--gold', files.gold, '--model', model, '--out', path.join(dir, 'cli-all-skipped-out')]);
      assert.equal(some.code, 0, some.stderr);
      assert.doesNotMatch(some.stderr, /every pair was skipped/);
    });

    test('bad usage exits 2', () => {
      assert.equal(runCli(['wic', dataFile, '--gold', goldFile, '--model', model, '--out', path.join(dir, 'x'), '--word-token', 'middle']).code, 2);
      assert.equal(runCli(['wic', dataFile, '--model', model, '--out', path.join(dir, 'x')]).code, 2, '--gold is required');
    });

    test('MOE_INSPECT_MODEL stands in for --model; without either it is bad usage', () => {
      const files = writePairs(dir, 'env', withBadLine.slice(0, 2));
      assert.equal(runCli(['wic', files.data, '--gold', files.gold, '--out', path.join(dir, 'env-out')], { env: { MOE_INSPECT_MODEL: model } }).code, 0);
      assert.equal(runCli(['wic', files.data, '--gold', files.gold, '--out', path.join(dir, 'env-out2')], { env: { MOE_INSPECT_MODEL: '' } }).code, 2);
    });
  });
});
