import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { gpuBalancedness } from '../src/analysis/balancedness.js';
import { formatPlan, planPlacement, runBalance } from '../src/balance/balance.js';
import { planTable } from '../src/balance/plan-table.js';
import { InputError } from '../src/errors.js';
import { loadMatrixFromRows } from '../src/loaders/load-matrix.js';
import { repoRoot, requireBuiltCli } from './helpers/cli.js';


const root = repoRoot();
const servingLoad = path.join(root, 'test/fixtures/serving/deepseek-v3-decode_in1000out1000.logical_count.json');
const v3Cluster = { replicas: 288, groups: 8, nodes: 4, gpus: 32 };

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'moe-balance-'));

describe('balance', () => {
  test('writes PLAN.json with the keys of contract.md for the real DeepSeek-V3 load, leaving out the 3 dense layers', () => {
    const dir = tempDir();
    const out = path.join(dir, 'plan.json');
    const { plan, skippedLayers } = runBalance(servingLoad, { ...v3Cluster, out });
    assert.deepEqual(skippedLayers, [0, 1, 2]);
    const written = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.deepEqual(written, JSON.parse(JSON.stringify(plan)));
    assert.deepEqual(Object.keys(written), ['policy', 'replicas', 'groups', 'nodes', 'gpus', 'layers', 'phy2log', 'log2phy', 'logcnt', 'balancedness_before', 'balancedness_after']);
    assert.equal(written.policy, 'hierarchical');
    assert.deepEqual(written.layers, Array.from({ length: 58 }, (_, i) => i + 3));
    assert.equal(written.phy2log.length, 58);
    assert.ok(written.phy2log.every((row: number[]) => row.length === 288));
    assert.ok(written.logcnt.every((row: number[]) => row.length === 256 && row.reduce((a, b) => a + b, 0) === 288));
    assert.deepEqual(fs.readdirSync(dir), ['plan.json']);
  });

  test('measures the plan on other traffic with --eval', () => {
    // Plan on one load, measure on a load whose hot expert moved: the plan fits the first better.
    const today = loadMatrixFromRows([[1, 1, 1, 1, 1, 1, 1, 9]], 'today');
    const yesterday = loadMatrixFromRows([[9, 1, 1, 1, 1, 1, 1, 1]], 'yesterday');
    const { plan } = planPlacement(yesterday, { replicas: 12, groups: 1, nodes: 1, gpus: 4 }, today);
    assert.equal(plan.eval?.load, 'today');
    assert.equal(plan.eval?.balancedness[0], gpuBalancedness(today.counts[0], { phy2log: plan.phy2log[0], gpus: 4 }));
    assert.ok(plan.eval!.balancedness[0] < plan.balancedness_after[0]);
    // "Before" is the engines' default for 12 slots: slot s holds expert s mod 8.
    assert.equal(plan.balancedness_before[0], gpuBalancedness(yesterday.counts[0], { phy2log: [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3], gpus: 4 }));
    assert.match(planTable(plan), /layer.*before.*after.*eval/);
  });

  test('formats PLAN.json one layer per line, and it parses back to the plan', () => {
    const load = loadMatrixFromRows([[0, 0, 0, 0], [4, 3, 2, 1], [1, 1, 5, 1]], 'load');
    const { plan } = planPlacement(load, { replicas: 6, groups: 2, nodes: 1, gpus: 2 });
    const text = formatPlan(plan);
    assert.deepEqual(JSON.parse(text), plan);
    assert.match(text, /"phy2log": \[\n {4}\[[0-9,]+\],\n {4}\[[0-9,]+\]\n {2}\]/);
  });

  for (const [flags, message] of [
    [{ replicas: 200 }, /serving.*logical_count\.json: replicas 200 must be at least the number of experts 256/],
    // Problems of the options alone do not name the load file: nothing in it is wrong.
    [{ replicas: 300 }, /^replicas 300 must be a multiple of gpus 32/],
    [{ nodes: 3 }, /^gpus 32 must be a multiple of nodes 3/],
    [{ groups: 7 }, /experts 256 must be a multiple of groups 7/],
  ] as const) {
    test(`rejects ${JSON.stringify(flags)} and writes nothing`, () => {
      const dir = tempDir();
      const out = path.join(dir, 'plan.json');
      assert.throws(() => runBalance(servingLoad, { ...v3Cluster, ...flags, out }), (error: unknown) => error instanceof InputError && message.test(error.message));
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  }

  test('rejects an eval load that does not cover the plan', () => {
    const load = loadMatrixFromRows([[0, 0], [1, 2], [2, 1]], 'load');
    const short = loadMatrixFromRows([[0, 0], [1, 2]], 'short');
    const idle = loadMatrixFromRows([[0, 0], [1, 2], [0, 0]], 'idle');
    const cluster = { replicas: 2, groups: 1, nodes: 1, gpus: 2 };
    assert.throws(() => planPlacement(load, cluster, short), /short: has 2 layers, the plan needs layer 2/);
    assert.throws(() => planPlacement(load, cluster, idle), /idle: layer 2 has no load to measure the plan on/);
  });
});

describe('moe-inspect balance (end to end)', () => {
  const cli = (...args: string[]) => {
    requireBuiltCli();
    return spawnSync(process.execPath, [path.join(root, 'bin/moe-inspect.js'), ...args], { encoding: 'utf8' });
  };

  test('writes the plan, prints the table, and says which layers it left out', () => {
    const out = path.join(tempDir(), 'plan.json');
    const run = cli('balance', servingLoad, '--replicas', '288', '--groups', '8', '--nodes', '4', '--gpus', '32', '--out', out, '--eval', servingLoad);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /left out 3 layers with no load \(dense\): 0, 1, 2\n$/);
    assert.match(run.stdout, /│ 60 +│ 0\.\d{4} │ 0\.\d{4} │ 0\.\d{4} │/);
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).layers.length, 58);
  });

  test('says on which layers the plan is less balanced than the default placement', () => {
    // The hand-checked case of test/eplb.test.ts: EPLB 2171/2210, the contiguous split 2171/2181 (layer 1 here);
    // layer 2 is uniform, where both are perfect.
    const dir = tempDir();
    const load = path.join(dir, 'load.json');
    fs.writeFileSync(load, JSON.stringify([[0, 0, 0, 0, 0, 0, 0, 0], [403, 462, 969, 347, 995, 688, 206, 272], [5, 5, 5, 5, 5, 5, 5, 5]]));
    const run = cli('balance', load, '--replicas', '8', '--groups', '2', '--gpus', '2', '--out', path.join(dir, 'plan.json'));
    assert.equal(run.status, 0, run.stderr);
    const plan = JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8'));
    assert.ok(plan.balancedness_after[0] < plan.balancedness_before[0]);
    assert.match(run.stdout, /EPLB's plan is less balanced than the default placement on 1 layer \(1\)/);
    // Two hot experts side by side: the contiguous split puts both on GPU 0 (18 against 4), EPLB one on each (11 and 11).
    const skewed = path.join(dir, 'skewed.json');
    fs.writeFileSync(skewed, JSON.stringify([[8, 8, 1, 1, 1, 1, 1, 1]]));
    const better = cli('balance', skewed, '--replicas', '8', '--groups', '2', '--gpus', '2', '--out', path.join(dir, 'plan-skewed.json'));
    assert.equal(better.status, 0, better.stderr);
    assert.match(better.stdout, /mean balancedness 0\.6111 -> 1\.0000/);
    assert.doesNotMatch(better.stdout, /less balanced/);
    // A tie: both placements give 0.9, computed as 0.9 and 0.8999999999999998; that is not "less balanced".
    const tie = path.join(dir, 'tie.json');
    fs.writeFileSync(tie, JSON.stringify([[1, 1, 1, 1, 2, 1, 1, 1]]));
    const tied = cli('balance', tie, '--replicas', '16', '--gpus', '4', '--out', path.join(dir, 'plan-tie.json'));
    assert.equal(tied.status, 0, tied.stderr);
    assert.match(tied.stdout, /mean balancedness 0\.9000 -> 0\.9000/);
    assert.doesNotMatch(tied.stdout, /less balanced/);
  });

  test('exits 1 with one line on stderr for inconsistent numbers, leaving no file', () => {
    const dir = tempDir();
    const run = cli('balance', servingLoad, '--replicas', '300', '--gpus', '32', '--out', path.join(dir, 'plan.json'));
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^moe-inspect: replicas 300 must be a multiple of gpus 32[^\n]*\n$/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
