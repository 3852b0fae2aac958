import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { runServingBalance } from '../src/balance/serving.js';
import { chromiumMissing, renderedCharts, withPage } from './helpers/chromium.js';
import { tempDir } from './helpers/safetensors-bytes.js';
import { smallTrace } from './helpers/serving-trace.js';

const dir = tempDir('balance-browser');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('balance --html in headless Chromium', () => {
  test('every chart of the plan page renders offline, with a clean console, user text escaped, within 1280 px', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    // The trace's file name is hostile: it is shown on the page.
    const { file } = smallTrace(dir, 400, '<img src=x onerror=alert(1)>.trace.safetensors');
    const cluster = { replicas: 12, gpus: 4, nodes: 2, groups: 2 };
    const old = path.join(dir, 'old.json');
    runServingBalance(file, { ...cluster, replicas: 8, out: old });
    const html = path.join(dir, 'plan.html');
    runServingBalance(file, {
      ...cluster,
      out: path.join(dir, 'plan.json'),
      html,
      expertBytes: 1 << 20,
      simulate: { window: 2, interval: 1, stepTokens: 50 },
      traffic: { tokenSource: 'prompt', bandwidth: {} },
      diff: old,
    });
    await withPage(html, async ({ page, requests, errors, dialogs }) => {
      const charts = await renderedCharts(page);
      // before/after lines, busiest-layer bars, simulation, traffic heatmap, nodes per token, diff bars.
      assert.equal(charts.length, 6);
      for (const chart of charts) assert.ok(chart.width > 50 && chart.height > 50, `a chart drew nothing visible (${chart.width} x ${chart.height})`);
      assert.deepEqual(requests.filter((url) => !/^(file|data|blob):/.test(url)), [], 'the page requested something from the network');
      assert.deepEqual(errors, [], 'console errors');
      assert.deepEqual(dialogs, [], 'user text ran as script');
      assert.equal(await page.$$eval('img', (images) => images.length), 0, 'user text became an element');
      assert.ok(((await page.evaluate('document.documentElement.scrollWidth')) as number) <= 1280);
    });
  });

  test('the sweep page renders its chart', { skip: chromiumMissing() ?? false, timeout: 120_000 }, async () => {
    const { file } = smallTrace(dir, 200, 'sweep.trace.safetensors');
    const html = path.join(dir, 'sweep.html');
    runServingBalance(file, { out: path.join(dir, 'sweep.json'), html, nodes: 1, groups: 1, sweep: { gpus: [2, 4], redundant: [0, 4, 8], gpusPerNode: 2 } });
    await withPage(html, async ({ page, errors }) => {
      const charts = await renderedCharts(page);
      assert.equal(charts.length, 1);
      assert.ok(charts[0].width > 50 && charts[0].height > 50);
      assert.deepEqual(errors, []);
    });
  });
});
