import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { escapeHtml, renderHtmlReport, scriptJson } from '../src/page/html.js';
import { inputNames, runReport } from '../src/report/report.js';
import { summaryTable } from '../src/report/summary.js';
import { writeTrace } from '../src/trace.js';
import { runCli } from './helpers/cli.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('report');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const evil = '</script><img src=x onerror=alert(1)>';
const perLayerKeys = ['trace', 'layer', 'tokens', 'maxvio', 'cv', 'entropy', 'gini', 'dead', 'hot_share', 'balancedness', 'expert_balance_loss', 'device_balance_loss', 'same_token_overlap', 'groups_per_token', 'gpus_per_token'];

/**
 * 240 tokens in 8 prompts, E = 8, K = 2, 2 layers, 2 groups of 4 experts. Token id 7 is the hostile text
 * (20 times, so it makes the token tables), and one label is hostile too.
 */
function writeSampleTrace(name: string, options: { experts?: number } = {}): string {
  const { experts = 8 } = options;
  const random = seededRandom(9);
  const T = 240;
  const tokenIds = Int32Array.from({ length: T }, (_, t) => (t % 30 === 0 ? 1 : t % 12 === 5 ? 7 : 2 + Math.floor(random() * 4)));
  const ids: number[] = [];
  for (let t = 0; t < T * 2; t++) {
    const a = Math.floor(random() * experts);
    ids.push(a, (a + 1 + Math.floor(random() * (experts - 1))) % experts);
  }
  const pieces = Array.from(tokenIds, (id) => (id === 1 ? '' : id === 7 ? evil : ` w${id}`));
  const offsets = [0];
  for (const piece of pieces) offsets.push(offsets[offsets.length - 1] + Buffer.byteLength(piece));
  const file = path.join(dir, name);
  writeTrace(file, {
    metadata: {
      model_type: 'deepseek_v2',
      n_routed_experts: experts,
      num_experts_per_tok: 2,
      model_config: JSON.stringify({ model_type: 'deepseek_v2', num_hidden_layers: 3, first_k_dense_replace: 1, n_routed_experts: experts, num_experts_per_tok: 2, n_group: 2, topk_group: 2, topk_method: 'greedy' }),
      model_dir: 'test',
      labels: ['plain', evil],
      source: 'route',
    },
    layers: [1, 2],
    tokenIds,
    promptOffsets: Array.from({ length: 9 }, (_, p) => p * 30),
    topkIds: [Int32Array.from(ids)],
    routerProbSum: Float64Array.from({ length: 2 * experts }, () => (T / experts) * (0.5 + random())),
    tokenText: { bytes: new Uint8Array(Buffer.from(pieces.join(''))), offsets },
    promptLabels: Int32Array.from({ length: 8 }, (_, p) => p % 2),
  });
  return file;
}

const trace = writeSampleTrace('sample.trace.safetensors');
// Legal in a Linux file name, and hostile in HTML.
const hostileName = writeSampleTrace(`a<b>&"c'.trace.safetensors`);

function chartsJson(html: string): unknown {
  const match = /<script type="application\/json" id="moe-inspect-charts">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(match, 'the page carries its charts as JSON');
  return JSON.parse(match[1]);
}

describe('report SUMMARY.json', () => {
  test('a full trace: every key of contract.md, in its order', async () => {
    const out = path.join(dir, 'full.html');
    const json = path.join(dir, 'full.json');
    await runReport([trace], { out, json, gpus: 4 });
    const summary = JSON.parse(fs.readFileSync(json, 'utf8'));
    // The figure keys after per_layer are those of contract.md's "Report summary" this trace has (no unbiased_topk_ids).
    assert.deepEqual(Object.keys(summary), ['traces', 'n_experts', 'k', 'per_layer', 'coactivation', 'token_specialization', 'domain_specialization', 'nodes_per_token', 'small_sample']);
    assert.deepEqual(summary.traces, ['sample.trace.safetensors']);
    assert.equal(summary.n_experts, 8);
    assert.equal(summary.k, 2);
    assert.equal(summary.per_layer.length, 2);
    for (const row of summary.per_layer) {
      assert.deepEqual(Object.keys(row), perLayerKeys);
      for (const key of perLayerKeys.slice(2)) assert.equal(typeof row[key], 'number', key);
    }
    assert.deepEqual(summary.per_layer.map((r: { layer: number }) => r.layer), [1, 2]);
  });

  test('count matrices alone: no k, and only the keys counts allow', async () => {
    const load = path.join(dir, 'load.json');
    fs.writeFileSync(load, JSON.stringify({ logical_count: [[0, 0, 0, 0], [5, 1, 1, 1], [2, 2, 2, 2]] }));
    const json = path.join(dir, 'load-summary.json');
    await runReport([load], { out: path.join(dir, 'load.html'), json });
    const summary = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.deepEqual(Object.keys(summary), ['traces', 'n_experts', 'per_layer']);
    assert.deepEqual(Object.keys(summary.per_layer[0]), ['trace', 'layer', 'maxvio', 'cv', 'entropy', 'gini', 'dead', 'hot_share', 'balancedness']);
    // MaxVio of [5, 1, 1, 1]: 5 / 2 - 1.
    assert.equal(summary.per_layer[0].maxvio, 1.5);
    assert.equal(summary.per_layer[1].layer, 2);
  });

  test('a trace and a count matrix side by side; inputs of different E are refused', async () => {
    const load = path.join(dir, 'load8.csv');
    fs.writeFileSync(load, '0,0,0,0,0,0,0,0\n1,2,3,4,5,6,7,8\n');
    const { summary } = await runReport([trace, load], { out: path.join(dir, 'mixed.html'), gpus: 4 });
    assert.deepEqual(summary.traces, ['sample.trace.safetensors', 'load8.csv']);
    assert.deepEqual(summary.per_layer.map((r) => [r.trace, r.layer]), [['sample.trace.safetensors', 1], ['sample.trace.safetensors', 2], ['load8.csv', 1]]);
    assert.match(summaryTable(summary), /input.*MaxVio/);

    const other = writeSampleTrace('sixteen.trace.safetensors', { experts: 16 });
    await assert.rejects(() => runReport([trace, other], { out: path.join(dir, 'bad.html'), gpus: 4 }), (error: unknown) => error instanceof InputError && error.code === 'report-mismatch' && /16 experts/.test(error.message));
    assert.ok(!fs.existsSync(path.join(dir, 'bad.html')), 'no report is written for refused inputs');
  });

  test('inputs with the same file name are named by their path', async () => {
    assert.deepEqual(inputNames(['a/x.trace.safetensors', 'b/x.trace.safetensors', 'c/y.json']), ['a/x.trace.safetensors', 'b/x.trace.safetensors', 'y.json']);
  });
});

describe('report HTML', async () => {
  const out = path.join(dir, 'hostile.html');
  await runReport([hostileName], { out, gpus: 4 });
  const html = fs.readFileSync(out, 'utf8');
  const libraries = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]).filter((code) => code.length > 50000);
  // The page without the inlined vega libraries: everything the report itself wrote.
  const page = libraries.reduce((rest, code) => rest.replace(code, ''), html);

  test('escapes user text in the page and in the chart JSON', () => {
    assert.equal(libraries.length, 3, 'vega, vega-lite and vega-embed are inlined');
    assert.ok(!page.includes('<img'), 'no <img> element can come from user text');
    assert.ok(!html.includes('onerror=alert(1)>'), 'the hostile text never appears raw');
    // Every "</script" closes one of the page's own script elements: 1 JSON + 3 libraries + 1 embed script,
    // and the token overlay's JSON and script.
    assert.equal(html.match(/<\/script/gi)!.length, 7);
    // The overlay carries the hostile token as data, built into the page with textContent by its script.
    const overlay = /<script type="application\/json" class="overlay-data">([^<]*)<\/script>/.exec(html);
    assert.ok(overlay, 'the overlay data is embedded');
    assert.ok(JSON.parse(overlay[1]).items.some((item: { tokens: Array<{ text: string }> }) => item.tokens.some((t) => t.text === evil)), 'the hostile token reaches the overlay data intact');
    // In the token tables the hostile token is text (spaces shown as ␣); the file name is escaped in the facts.
    assert.ok(page.includes(escapeHtml(evil.replace(/ /g, '␣'))));
    assert.ok(page.includes('a&lt;b&gt;&amp;&quot;c&#39;.trace.safetensors'));
    // The JSON parses back to the exact strings.
    const text = JSON.stringify(chartsJson(html));
    assert.ok(text.includes(JSON.stringify(evil).slice(1, -1)), 'the hostile label reaches the chart data intact');
    assert.ok(text.includes(`a<b>&\\"c'.trace.safetensors`), 'the hostile file name reaches the chart data intact');
  });

  test('makes no network request: no URL outside the inlined libraries, and theirs are never fetched', () => {
    const urls = /https?:\/\/[^\s"'`<>)\\]*/g;
    assert.deepEqual(page.match(urls) ?? [], [], 'the page and its data name no URL');
    // Each URL in the libraries, and why it is harmless.
    const harmless = new Map([
      ['http://www.w3.org/2000/svg', 'SVG namespace for createElementNS'],
      ['http://www.w3.org/1999/xlink', 'XLink namespace for SVG attributes'],
      ['http://www.w3.org/2000/xmlns/', 'XML namespace of xmlns attributes'],
      ['https://vega.github.io/schema/vega/v6.json', '$schema id written into compiled specs, never loaded'],
      ['https://github.com/vega/vega-lite/issues/2415', 'text of a warning message'],
      ['https://github.com/Starcounter-Jack/JSON-Patch', 'licence comment of a bundled library'],
      ['http://', 'vega-embed tests whether a string argument is a URL (we pass spec objects)'],
      ['https://', 'vega-embed tests whether a string argument is a URL (we pass spec objects)'],
      ['https://vega.github.io/editor/', '"open in editor" action, off (actions: false)'],
    ]);
    for (const code of libraries) {
      for (const url of code.match(urls) ?? []) assert.ok(harmless.has(url), `unexpected URL in an inlined library: ${url}`);
    }
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    // Charts use inline data only.
    assert.ok(!/"url"\s*:/.test(JSON.stringify(chartsJson(html))));
  });

  test('scriptJson: <, >, &, U+2028 and U+2029 are escaped and parse back unchanged', () => {
    const value = { text: `${evil} <!-- & \u2028\u2029 "quoted"` };
    const encoded = scriptJson(value);
    assert.ok(!/[<>&\u2028\u2029]/.test(encoded));
    assert.deepEqual(JSON.parse(encoded), value);
  });

  test('renderHtmlReport: sections with explanation, chart and table; numbers to 4 significant digits', () => {
    const page = renderHtmlReport({
      title: 'T <1>',
      sections: [
        { title: 'A & B', explanation: 'first\n\nsecond', spec: { mark: 'point' }, table: { columns: ['x'], rows: [[1 / 3], [12345], ['<b>']] } },
      ],
    });
    assert.match(page, /<title>T &lt;1&gt;<\/title>/);
    assert.match(page, /<h2>A &amp; B<\/h2>/);
    assert.match(page, /<p>first<\/p>\n<p>second<\/p>/);
    assert.match(page, /<td class="num">0\.3333<\/td>/);
    assert.match(page, /<td class="num">12345<\/td>/);
    assert.match(page, /<td>&lt;b&gt;<\/td>/);
    assert.match(page, /data-chart="0"/);
    assert.match(page, /@media print/);
  });
});

describe('report command', () => {
  test('prints the per-layer table, writes both files, notes on stderr', () => {
    const out = path.join(dir, 'cli.html');
    const json = path.join(dir, 'cli.json');
    const result = runCli(['report', trace, '--out', out, '--json', json, '--gpus', '4', '--layers', '1-2']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /MaxVio/);
    assert.match(result.stdout, /wrote /);
    assert.ok(fs.existsSync(out) && fs.existsSync(json));
    // 240 tokens: the small-sample flags of SUMMARY.json, said on stderr too (the terminal table has no room).
    const flags: Array<{ figure: string; tokens: number }> = JSON.parse(fs.readFileSync(json, 'utf8')).small_sample;
    assert.ok(flags.some((flag) => flag.figure === 'load' && flag.tokens === 240));
    const line = result.stderr.split('\n').find((l) => l.includes('small samples'));
    assert.ok(line, result.stderr);
    for (const flag of flags) assert.ok(line.includes(`${flag.figure.replaceAll('_', ' ')} from ${flag.tokens} tokens`), line);
  });

  test('bad input exits 1 with one line; bad usage exits 2', () => {
    const missing = runCli(['report', path.join(dir, 'missing.trace.safetensors'), '--out', path.join(dir, 'x.html')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /missing\.trace\.safetensors/);
    const layers = runCli(['report', trace, '--out', path.join(dir, 'x.html'), '--layers', 'three']);
    assert.equal(layers.code, 2);
    const unknownLayer = runCli(['report', trace, '--out', path.join(dir, 'x.html'), '--layers', '9']);
    assert.equal(unknownLayer.code, 2);
    assert.match(unknownLayer.stderr, /layer 9/);
    // A problem of the options alone names the options, not the trace; a misfit with the trace's experts names it.
    const slots = runCli(['report', trace, '--out', path.join(dir, 'x.html'), '--replicas', '18', '--gpus', '4']);
    assert.equal(slots.code, 1);
    assert.match(slots.stderr, /^moe-inspect: replicas 18 must be a multiple of gpus 4[^\n]*\n$/);
    const few = runCli(['report', trace, '--out', path.join(dir, 'x.html'), '--replicas', '4', '--gpus', '4']);
    assert.match(few.stderr, /sample\.trace\.safetensors: replicas 4 must be at least the number of experts 8/);
    const twice = runCli(['report', trace, trace, '--out', path.join(dir, 'x.html')]);
    assert.equal(twice.code, 2);
  });
});
