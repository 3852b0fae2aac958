import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { tokenClasses } from '../src/analysis/token-classes.js';
import { runReport } from '../src/report/report.js';
import { openTrace } from '../src/trace.js';
import { route } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('report-planted');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const digit = /^ ?[0-9]+$/;
const punct = /^ ?[!-/:-@[-`{-~]+$/;

/**
 * End to end on `synth --planted`: digit tokens are wired to experts 0 and 1 and punctuation to 2 and 3 from
 * the planted layer on. The report must find exactly that in the tokens each expert receives most.
 * (The tokenizer splits numbers into digits and keeps spaces apart, so digits and marks are frequent.)
 */
describe('report on a planted model', () => {
  test('the report finds the planted answer: its shares match the trace, the planted experts carry their classes', { timeout: 120_000 }, async () => {
    const model = path.join(dir, 'model');
    const { planted } = await synthesize({ preset: 'tiny', out: model, planted: true });
    const prompts = path.join(dir, 'prompts.txt');
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) {
      lines.push(`Invoice ${100 + i * 7} of ${2000 + i}: ${i * 13 % 97} items at ${i + 3} each, total ${(i + 3) * (i * 13 % 97)}.`);
      lines.push(`Stop! Really?! Wait... no; yes: (maybe) -- "fine", 'ok' [done] {end} #${i}`);
      lines.push('The river ran quietly past the mill where the children played every summer');
    }
    fs.writeFileSync(prompts, `${lines.join('\n')}\n`);
    const trace = path.join(dir, 'prompts.trace.safetensors');
    await route({ prompts, model, out: trace, device: 'cpu' });

    const out = path.join(dir, 'report.html');
    const { analyses } = runReport([trace], { out, gpus: 4 });
    const [analysis] = analyses;

    // The report states the planted answer, read from the trace's model config, and the share of the planted
    // tokens that reach both planted experts: recomputed here straight from the trace's tokens and routing.
    const found = analysis.figures.planted!;
    assert.deepEqual(found.answer, planted);
    const opened = openTrace(trace);
    try {
      const ids = opened.readTopkIds(0, opened.nTokens);
      const { k: K, layers } = opened;
      layers.forEach((layer, l) => {
        for (const [cls, pattern] of [['digit', digit], ['punct', punct]] as const) {
          const experts = planted!.experts[cls];
          let tokens = 0;
          let reached = 0;
          for (let t = 0; t < opened.nTokens; t++) {
            if (!pattern.test(opened.tokenText(t))) continue;
            tokens += 1;
            const chosen = Array.from(ids.subarray((t * layers.length + l) * K, (t * layers.length + l + 1) * K));
            if (experts.every((e) => chosen.includes(e))) reached += 1;
          }
          const row = found.perLayer[l].classes.find((c) => c.cls === cls)!;
          assert.equal(row.tokens, tokens, `layer ${layer} ${cls}: tokens`);
          assert.equal(row.reached, reached, `layer ${layer} ${cls}: tokens reaching ${experts}`);
          if (layer >= planted!.fromLayer) assert.ok(reached / tokens > 0.9, `layer ${layer} ${cls}: only ${reached} of ${tokens} reach the planted experts`);
        }
      });
    } finally {
      opened.close();
    }
    const html = fs.readFileSync(out, 'utf8');
    assert.match(html, /wires digit tokens to experts 0 and 1 and punctuation tokens to experts 2 and 3 from layer 2 on/);
    const digits = found.perLayer.find((row) => row.layer === planted!.fromLayer)!.classes[0];
    assert.ok(html.includes(`${(100 * digits.share!).toFixed(1)}% of ${digits.tokens} digit tokens reach experts 0 and 1`), 'the page states the measured share');
    const plantedLayers = analysis.figures.tokenTables!.details.filter((d) => d.layer >= planted!.fromLayer);
    assert.ok(plantedLayers.length > 0, 'some detail layer is planted');
    for (const detail of plantedLayers) {
      const classes = analysis.figures.tokenClasses!.find((c) => c.layer === detail.layer)!;
      for (const [cls, experts] of [['digits', planted!.experts.digit], ['punctuation', planted!.experts.punct]] as const) {
        const c = tokenClasses.indexOf(cls);
        for (const expert of experts) {
          // Every token of the class goes to its planted experts, so their tokens hold more of the class than
          // the layer's mix over all experts.
          assert.ok(classes.shares[expert][c] > 1.5 * classes.overall[c], `layer ${detail.layer}: expert ${expert} has ${classes.shares[expert][c]} ${cls}, the layer ${classes.overall[c]}`);
        }
      }
      // Each expert's tokens are listed by lift, highest first, and all seen at least 10 times.
      for (const list of detail.topTokens!) {
        list.forEach((t, i) => {
          assert.ok(i === 0 || list[i - 1].lift >= t.lift, `layer ${detail.layer}: tokens not sorted by lift`);
          assert.ok(t.count / t.share >= 10 - 1e-9, `layer ${detail.layer}: token ${t.id} seen ${t.count / t.share} times`);
        });
      }
    }
  });
});
