import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyseTrace } from '../src/analysis/analyse.js';
import type { WeightsDiff } from '../src/analysis/weights-diff.js';
import { buildDiffPage } from '../src/diff/diff-page.js';
import { renderHtmlReport, type ReportPage } from '../src/page/html.js';
import { buildReportPage } from '../src/report/report-page.js';
import { overlayData, overlayHtml } from '../src/page/token-overlay.js';
import { openTrace, writeTrace } from '../src/trace.js';
import { buildWicPage } from '../src/wic/wic-page.js';
import type { WicPair } from '../src/wic/wic-data.js';
import type { WicAnalysis } from '../src/wic/wic-result.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';
import { matchesSnapshot, snapshotJson } from './helpers/snapshot.js';

/**
 * The three pages' specs (every section, chart spec and table) and the report's HTML against snapshots in
 * test/snapshots, so a change to what a page shows is seen in review. Inputs are small and seeded; paths
 * are made independent of the temporary folder.
 */
const dir = tempDir('page-snapshots');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The page as JSON with the temporary folder replaced by <tmp>. */
function pageJson(page: ReportPage): string {
  return snapshotJson(JSON.parse(JSON.stringify(page).replaceAll(dir, '<tmp>')));
}

/**
 * HTML that stays the same where only rounding or names differ: the inlined vega bundles (pinned
 * dependencies, a megabyte each) replaced by their names, every decimal number rounded to 4 significant
 * digits, and the temporary folder by <tmp>.
 */
export function normalisedHtml(html: string, tmp: string): string {
  return html
    .replace(/<script>[^]*?<\/script>/g, (script) => (script.length > 10_000 ? '<script>/* vega bundle */</script>' : script))
    .replaceAll(tmp, '<tmp>')
    .replace(/-?\d+\.\d+(e[-+]?\d+)?/g, (number) => String(Number(Number(number).toPrecision(4))));
}

/** A trace of 240 tokens over 3 layers of 8 experts, top-2, with labels, text, a BOS per prompt and router_prob_sum. */
function smallTrace(): string {
  const random = seededRandom(5);
  const T = 240;
  const L = 3;
  const tokenIds = Int32Array.from({ length: T }, (_, t) => (t % 40 === 0 ? 1 : 2 + Math.floor(random() ** 2 * 12)));
  const ids: number[] = [];
  for (let t = 0; t < T * L; t++) {
    const first = random() < 0.5 ? tokenIds[Math.floor(t / L)] % 8 : Math.floor(random() * 8);
    ids.push(first, (first + 1 + Math.floor(random() * 7)) % 8);
  }
  const pieces = Array.from(tokenIds, (id) => (id === 1 ? '' : ` w${id}`));
  const offsets = [0];
  for (const piece of pieces) offsets.push(offsets[offsets.length - 1] + Buffer.byteLength(piece));
  const file = path.join(dir, 'small.trace.safetensors');
  writeTrace(file, {
    metadata: { model_type: 'deepseek_v2', n_routed_experts: 8, num_experts_per_tok: 2, model_config: JSON.stringify({ model_type: 'deepseek_v2', num_hidden_layers: 4, first_k_dense_replace: 1, n_routed_experts: 8, num_experts_per_tok: 2, n_group: 4, topk_group: 2, topk_method: 'group_limited_greedy' }), model_dir: 'model', labels: ['code', 'prose'], source: 'route' },
    layers: [1, 2, 3],
    tokenIds,
    promptOffsets: Array.from({ length: T / 40 + 1 }, (_, p) => p * 40),
    topkIds: [Int32Array.from(ids)],
    routerProbSum: Float64Array.from({ length: L * 8 }, () => (T / 8) * (0.5 + random())),
    tokenText: { bytes: new Uint8Array(Buffer.from(pieces.join(''))), offsets },
    promptLabels: Int32Array.from({ length: T / 40 }, (_, p) => p % 2),
  });
  return file;
}

describe('page snapshots', () => {
  const trace = openTrace(smallTrace());
  const analysis = analyseTrace(trace, { name: 'small.trace.safetensors', gpus: 4, nodes: 2 });
  trace.close();
  const reportPage = buildReportPage([analysis], analysis.perLayer);

  test('report page spec', () => {
    assert.ok(reportPage.sections.length >= 10, 'the trace has what every section needs');
    matchesSnapshot('report-page.json', pageJson(reportPage));
  });

  test('report page HTML, numbers rounded and paths normalised', () => {
    matchesSnapshot('report-page.html', normalisedHtml(renderHtmlReport(reportPage), dir));
  });

  test('token overlay data and markup', () => {
    const overlay = analysis.figures.tokenOverlay!;
    assert.equal(overlay.items.length, 6, 'every prompt of the small trace is embedded');
    const reopened = openTrace(path.join(dir, 'small.trace.safetensors'));
    try {
      assert.deepEqual(overlay.items[1].experts, Array.from(reopened.readTopkIds(40, 80)), "prompt 2's experts are the trace's topk_ids");
      assert.deepEqual(overlay.items[1].tokens, Array.from({ length: 40 }, (_, i) => reopened.tokenBytes(40 + i)));
    } finally {
      reopened.close();
    }
    // The data the page's script colours tokens from, and the printable form built from it.
    matchesSnapshot('token-overlay.json', snapshotJson(overlayData({ ...overlay, items: overlay.items.slice(0, 2) }, { initial: 2 })));
    matchesSnapshot('token-overlay.html', `${overlayHtml({ ...overlay, items: overlay.items.slice(0, 2) }, { initial: 2, layer: 2, staticTokens: 12 }).replace(/></g, '>\n<')}\n`);
  });

  test('diff page spec', () => {
    const change = (layer: number, expert: number, relChange: number) => ({ layer, expert, relChange, matrixRelChange: { gate: relChange, up: relChange / 2, down: 0 }, routerRowRelChange: relChange / 10, routerCosine: 1 - relChange / 100 });
    const layers = [1, 2].map((layer) => {
      const experts = [0, 1, 2, 3].map((expert) => change(layer, expert, layer === 2 && expert === 1 ? 0.5 : 0.01 * expert));
      return { layer, meanRelChange: experts.reduce((s, e) => s + e.relChange, 0) / 4, routerRelChange: 0.02 * layer, experts };
    });
    const weights: WeightsDiff = { layers, ranked: layers.flatMap((l) => l.experts).sort((a, b) => b.relChange - a.relChange || a.layer - b.layer || a.expert - b.expert) };
    const routing = {
      tokens: 12,
      k: 2,
      nExperts: 4,
      layers: [1, 2].map((layer) => ({ layer, overlap: 1 - 0.1 * layer, top1Agreement: 1 - 0.2 * layer, loadJsDivergence: 0.01 * layer, loadA: [6, 6, 6, 6], loadB: [6, 4 + layer, 8 - layer, 6] })),
      mostChanged: [{ token: 5, tokenId: 42, prompt: 0, promptName: 'line 3', position: 5, overlap: 0.25, top1Agreement: 0, text: { before: utf8('the <b>'), token: utf8(' bank'), after: utf8('\tof') } }],
      prompts: 'prompts.txt',
      traces: { a: { file: 'diff.html.a.trace.safetensors', reused: false }, b: { file: 'diff.html.b.trace.safetensors', reused: true } },
    };
    matchesSnapshot('diff-page.json', pageJson(buildDiffPage({ modelA: 'base', modelB: 'tuned', nExperts: 4, weights, routing })));
  });

  test('WiC page spec', () => {
    const wic: WicAnalysis = {
      wic: {
        layers: [1, 2],
        k: 2,
        n_experts: 8,
        word_token: 'last',
        pairs: [
          { index: 0, word: 'bank', label: true, skipped: false, tokens: [[1, 1], [7, 8]] },
          { index: 1, word: 'bat', label: false, skipped: false, tokens: [[13, 13], [20, 20]] },
          { index: 2, word: 'ring', label: false, skipped: true, tokens: [null, [30, 30]] },
        ],
        suspect_pairs: [],
        per_layer: [
          { layer: 1, overlap_same: 1, overlap_diff: 0.5, kappa_same: 1, kappa_diff: 0.2857142857142857, auc: 1, overlap_same_ci: [1, 1], overlap_diff_ci: [0.5, 0.5], auc_ci: [1, 1] },
          { layer: 2, overlap_same: 0.5, overlap_diff: 0.5, kappa_same: 0.2857142857142857, kappa_diff: 0.2857142857142857, auc: 0.5, overlap_same_ci: [0.5, 0.5], overlap_diff_ci: [0, 1], auc_ci: [0.25, 0.75] },
        ],
      },
      skipped: [{ index: 2, problem: 'word "ring" not found at index 3', suspect: false }],
      wordTokenBytes: [[[utf8(' bank')], [utf8(' ba'), utf8('nk')]], [[utf8(' bat')], [utf8(' bat')]], [null, [utf8(' ring')]]],
    };
    const pairs = [
      { index: 0, word: 'bank', pos: 'N', wordIndices: [1, 2], sentences: ['a bank here', 'the river bank'], same: true },
      { index: 1, word: 'bat', pos: 'N', wordIndices: [1, 1], sentences: ['a bat flew', 'a bat hit'], same: false },
      { index: 2, word: 'ring', pos: 'N', wordIndices: [3, 1], sentences: ['no such word', 'a ring'], same: false },
    ] satisfies WicPair[];
    matchesSnapshot('wic-page.json', pageJson(buildWicPage(wic, { data: 'dev.data.txt', gold: 'dev.gold.txt', model: 'model', trace: 'trace.safetensors', pairs })));
  });

  test('a missing or changed snapshot fails and leaves the new text beside it; the update variable writes it', () => {
    const snapshots = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-snapshots-'));
    try {
      assert.throws(() => matchesSnapshot('x.json', 'one\n', { dir: snapshots, update: false }), /x\.json has no snapshot/);
      assert.equal(fs.readFileSync(path.join(snapshots, 'x.json.changed'), 'utf8'), 'one\n');
      assert.ok(!fs.existsSync(path.join(snapshots, 'x.json')), 'a missing snapshot is not written');
      matchesSnapshot('x.json', 'one\n', { dir: snapshots, update: true });
      matchesSnapshot('x.json', 'one\n', { dir: snapshots, update: false });
      assert.ok(!fs.existsSync(path.join(snapshots, 'x.json.changed')));
      assert.throws(() => matchesSnapshot('x.json', 'two\n', { dir: snapshots, update: false }), /x\.json differs from its snapshot/);
      assert.equal(fs.readFileSync(path.join(snapshots, 'x.json'), 'utf8'), 'one\n', 'a changed snapshot is kept');
    } finally {
      fs.rmSync(snapshots, { recursive: true, force: true });
    }
  });

  test('the HTML normalisation rounds numbers and drops only the big bundles', () => {
    const html = `<p>0.123456 and 12 and 1.5e-7 in /tmp/x/a</p><script>${'v'.repeat(20_000)}</script><script>small()</script>`;
    assert.equal(normalisedHtml(html, '/tmp/x'), '<p>0.1235 and 12 and 1.5e-7 in <tmp>/a</p><script>/* vega bundle */</script><script>small()</script>');
  });
});
