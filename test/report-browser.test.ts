import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { runReport } from '../src/report/report.js';
import { writeTrace } from '../src/trace.js';
import { chromiumMissing, renderedCharts, withPage } from './helpers/chromium.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('report-browser');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const evil = '</script><img src=x onerror=alert(1)>';

/** Two traces of one model (E = 16, top-4, 3 layers, groups, labels, a hostile token and label; the first with unbiased_topk_ids) and a count matrix. */
function writeInputs(): string[] {
  const random = seededRandom(17);
  const files: string[] = [];
  for (const name of ['base', 'tuned']) {
    const T = 600;
    const tokenIds = Int32Array.from({ length: T }, (_, t) => (t % 50 === 0 ? 1 : t % 17 === 3 ? 9 : 2 + Math.floor(random() ** 2 * 30)));
    const ids: number[] = [];
    for (let t = 0; t < T * 3; t++) {
      const set: number[] = [];
      while (set.length < 4) {
        const e = random() < 0.4 ? (tokenIds[Math.floor(t / 3)] * 5 + set.length) % 16 : Math.floor(random() ** 1.7 * 16);
        if (!set.includes(e)) set.push(e);
      }
      ids.push(...set);
    }
    const pieces = Array.from(tokenIds, (id) => (id === 1 ? '' : id === 9 ? evil : ` w${id}`));
    const offsets = [0];
    for (const piece of pieces) offsets.push(offsets[offsets.length - 1] + Buffer.byteLength(piece));
    const file = path.join(dir, `${name}.trace.safetensors`);
    writeTrace(file, {
      metadata: {
        model_type: 'deepseek_v2',
        n_routed_experts: 16,
        num_experts_per_tok: 4,
        model_config: JSON.stringify({ model_type: 'deepseek_v2', num_hidden_layers: 4, first_k_dense_replace: 1, n_routed_experts: 16, num_experts_per_tok: 4, n_group: 4, topk_group: 3, topk_method: 'greedy' }),
        model_dir: 'test',
        labels: ['code', evil],
        source: 'route',
      },
      layers: [1, 2, 3],
      tokenIds,
      promptOffsets: Array.from({ length: T / 50 + 1 }, (_, p) => p * 50),
      topkIds: [Int32Array.from(ids)],
      routerProbSum: Float64Array.from({ length: 3 * 16 }, () => (T / 16) * (0.5 + random())),
      tokenText: { bytes: new Uint8Array(Buffer.from(pieces.join(''))), offsets },
      promptLabels: Int32Array.from({ length: T / 50 }, (_, p) => p % 2),
      // The base trace also has the choice without a balancing bias (as route records for DeepSeek-V3): every 7th choice differs.
      unbiasedTopkIds: name === 'base' ? [Int32Array.from(ids, (e, i) => (i % 7 === 0 ? (e + 1) % 16 : e))] : undefined,
    });
    files.push(file);
  }
  const load = path.join(dir, 'serving.json');
  fs.writeFileSync(load, JSON.stringify([new Array(16).fill(0), Array.from({ length: 16 }, (_, e) => 100 + e * 10)]));
  return [...files, load];
}

describe('report in headless Chromium', () => {
  test('every chart renders, nothing is fetched, the console stays clean, the page fits 1280 px and prints', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    const out = path.join(dir, 'report.html');
    // With the offloading figures too (cache curves, prefetch precision, the transition map), for both traces.
    runReport(writeInputs(), { out, gpus: 4, nodes: 2, offloading: { cache: { batch: 2 }, prefetch: {} } });
    await withPage(out, async ({ page, requests, errors, dialogs }) => {
      const charts = await renderedCharts(page);
      assert.ok(charts.length >= 15, `expected the full set of charts, found ${charts.length}`);
      for (const chart of charts) assert.ok(chart.width > 50 && chart.height > 50, `chart ${chart.chart} drew nothing visible (${chart.width} x ${chart.height})`);

      const offline = requests.filter((url) => !/^(file|data|blob):/.test(url));
      assert.deepEqual(offline, [], 'the report requested something from the network');
      assert.deepEqual(errors, [], 'console errors');
      assert.deepEqual(dialogs, [], 'user text ran as script');
      assert.equal(await page.$$eval('img', (images) => images.length), 0, 'user text became an element');

      // Readable at 1280 px: the page itself never scrolls sideways.
      const pageWidth = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      assert.ok(pageWidth <= 1280, `page is ${pageWidth} px wide`);

      // Tooltips carry the numbers: hover a point of the first line chart.
      const point = page.locator('.mark-symbol path').first();
      await point.hover({ force: true });
      await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 5000 });
      assert.match((await page.textContent('#vg-tooltip-element')) ?? '', /layer/);

      await page.emulateMedia({ media: 'print' });
      assert.equal(await page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display"), 'none');
    });
  });
});
