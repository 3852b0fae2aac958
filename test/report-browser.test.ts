import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { runReport } from '../src/report/report.js';
import { route } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
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

  test('the token overlay colours digits in the colours of the planted experts 0 and 1 from layer 2, not before', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    const model = path.join(dir, 'planted-model');
    const { planted } = await synthesize({ preset: 'tiny', out: model, planted: true });
    assert.deepEqual(planted, { fromLayer: 2, experts: { digit: [0, 1], punct: [2, 3] } });
    const prompts = path.join(dir, 'planted-prompts.txt');
    fs.writeFileSync(prompts, 'The river ran past the mill.\nInvoice 4417 of 2031: 58 items at 9 each.\nStop! Really?! Wait...\n');
    const trace = path.join(dir, 'planted.trace.safetensors');
    await route({ prompts, model, out: trace, device: 'cpu' });
    const out = path.join(dir, 'planted.html');
    runReport([trace], { out });
    await withPage(out, async ({ page, errors }) => {
      const overlay = page.locator('[data-overlay]');
      await overlay.locator('.overlay-search').fill('invoice');
      assert.match((await overlay.locator('.overlay-count').textContent()) ?? '', /^1 of 3 embedded prompts match/);
      /** Per token of the shown prompt: its text, its background colour, and the colours of the legend's experts. */
      const read = async (layer: string) => {
        await overlay.locator('.overlay-layer').selectOption(layer);
        return page.evaluate(`(() => {
          const root = document.querySelector('[data-overlay]');
          const colour = (element) => getComputedStyle(element).backgroundColor;
          const tokens = Array.from(root.querySelectorAll('.overlay-items .tok')).map((t) => ({ text: t.textContent, colour: colour(t) }));
          const legend = Object.fromEntries(Array.from(root.querySelectorAll('.legend-entry')).map((e) => [e.getAttribute('data-expert'), colour(e.querySelector('.swatch'))]));
          return { tokens, legend };
        })()`) as Promise<{ tokens: Array<{ text: string; colour: string }>; legend: Record<string, string> }>;
      };
      const digitToken = /^␣?[0-9]+$/;
      for (const layer of ['2', '3']) {
        const { tokens, legend } = await read(layer);
        const digits = tokens.filter((t) => digitToken.test(t.text));
        assert.ok(digits.length >= 5, `layer ${layer}: digit tokens shown: ${JSON.stringify(tokens.map((t) => t.text))}`);
        const planted = [legend['0'], legend['1']].filter((c) => c !== undefined);
        assert.ok(planted.length > 0, `layer ${layer}: the legend lists expert 0 or 1`);
        for (const t of digits) assert.ok(planted.includes(t.colour), `layer ${layer}: digit token ${t.text} has colour ${t.colour}, not that of expert 0 or 1 (${planted.join(', ')})`);
      }
      // At layer 1 the plant does not act: the digits are not all in the planted experts' colours.
      const { tokens, legend } = await read('1');
      const digits = tokens.filter((t) => digitToken.test(t.text));
      assert.ok(digits.some((t) => t.colour !== legend['0'] && t.colour !== legend['1']), 'layer 1: every digit is coloured as expert 0 or 1, which the plant does not cause');

      // Hovering a token shows its K experts with weights and its bytes.
      await overlay.locator('.overlay-layer').selectOption('2');
      await overlay.locator('.overlay-items .tok', { hasText: '4' }).first().hover();
      const tip = (await overlay.locator('.overlay-tip').textContent()) ?? '';
      assert.match(tip, /bytes (20 )?34/);
      assert.match(tip, /layer 2, experts \(weight\):\n {2}[01] {2}\(0\.\d+\)\n {2}[01] {2}\(0\.\d+\)/);
      assert.deepEqual(errors, []);

      await page.emulateMedia({ media: 'print' });
      assert.equal(await page.evaluate("getComputedStyle(document.querySelector('[data-overlay]')).display"), 'none');
      assert.ok(await page.locator('.overlay-static').first().isVisible(), 'the printable form prints');
    });
  });

  test('a two-input report shows its panels and legends in command order, with a difference view', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    const [base, tuned] = writeInputs();
    const out = path.join(dir, 'two.html');
    // "tuned" first: alphabetical order would put "base" first, command order puts "tuned" first.
    runReport([tuned, base], { out, gpus: 4 });
    await withPage(out, async ({ page, errors }) => {
      await page.waitForFunction("document.querySelectorAll('[data-chart]:not([data-rendered])').length === 0", null, { timeout: 60_000 });
      /** Left edge of each input name's text in a section's chart, by input. */
      const positions = (title: string) =>
        page.evaluate(`(() => {
          const section = Array.from(document.querySelectorAll('section')).find((s) => s.querySelector('h2').textContent === ${JSON.stringify(title)});
          const texts = Array.from(section.querySelectorAll('.chart svg text'));
          const at = (name) => texts.filter((t) => t.textContent === name).map((t) => t.getBoundingClientRect().left);
          return { tuned: at('tuned.trace.safetensors'), base: at('base.trace.safetensors') };
        })()`) as Promise<{ tuned: number[]; base: number[] }>;
      const panels = await positions('Load per expert and layer');
      assert.equal(panels.tuned.length, 1, 'one panel header per input');
      assert.ok(panels.tuned[0] < panels.base[0], `the first input's panel is on the left: ${JSON.stringify(panels)}`);
      const legend = await positions('Load imbalance per layer');
      assert.ok(legend.tuned.length === 1 && legend.tuned[0] < legend.base[0], `the legend lists the first input first: ${JSON.stringify(legend)}`);
      const titles = (await page.$$eval('section h2', (h) => h.map((e) => e.textContent))) as string[];
      assert.ok(titles.includes('Load difference: base.trace.safetensors − tuned.trace.safetensors'), `a load difference section: ${titles.join(' | ')}`);
      const differenceTitles = await page.$$eval('.chart svg text', (texts) => texts.filter((t) => t.textContent === 'difference: base.trace.safetensors − tuned.trace.safetensors').length);
      assert.ok(differenceTitles >= 6, `every line chart of the imbalance section has a difference view (found ${differenceTitles} in the page)`);
      assert.deepEqual(errors, []);
    });
  });
});
