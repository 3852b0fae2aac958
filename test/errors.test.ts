import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyseLoadMatrix, detailLayerIndices } from '../src/analysis/analyse.js';
import { checkPlacementShape, rebalanceExperts } from '../src/analysis/eplb.js';
import { planPlacement } from '../src/balance/balance.js';
import { modelOption } from '../src/commands/model-option.js';
import { errorCodes, type ErrorCode } from '../src/error-codes.js';
import { InputError } from '../src/errors.js';
import { loadMatrixFromRows, readLoadMatrix } from '../src/loaders/load-matrix.js';
import { readJsonObject } from '../src/loaders/json-file.js';
import { readPrompts } from '../src/loaders/prompts.js';
import { SafetensorsFile } from '../src/loaders/safetensors.js';
import { readLoadSeries } from '../src/balance/time-series.js';
import { readWicData } from '../src/wic/wic-data.js';
import { WorkDir } from '../src/route/work-dir.js';
import { synthesize } from '../src/synth/synth.js';
import { repoRoot } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

/**
 * Error codes are listed once (src/error-codes.ts). These tests hold the list to the code: every listed code
 * is raised somewhere, and every family of codes (the word before the first "-") has a test that expects
 * one of its codes; the families no other suite reaches are exercised here.
 */
const dir = tempDir('errors');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const codes = Object.keys(errorCodes) as ErrorCode[];
const family = (code: string) => code.split('-')[0];

/** The text of every .ts file under a folder of the repository. */
function sources(folder: string, skip: string[] = []): string {
  const root = path.join(repoRoot(), folder);
  return fs
    .readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !skip.includes(file))
    .map((file) => fs.readFileSync(path.join(root, file), 'utf8'))
    .join('\n');
}

/** Families whose checks need what a test machine lacks: no execution provider at all, or a real FP8 embedding. */
const unreachable: Record<string, string> = {
  provider: 'every execution provider, cpu included, would have to fail to load',
  embedding: 'needs a checkpoint with an FP8 embedding table, which no release has',
};

function hasCode(code: ErrorCode): (error: unknown) => boolean {
  return (error) => error instanceof InputError && error.code === code;
}

describe('error codes', () => {
  test('every listed code is raised somewhere in src/, and no code is listed twice', () => {
    const src = sources('src', ['error-codes.ts']);
    const unused = codes.filter((code) => !src.includes(`'${code}'`));
    assert.deepEqual(unused, []);
    const listed = fs.readFileSync(path.join(repoRoot(), 'src', 'error-codes.ts'), 'utf8').match(/^ {2}'[a-z0-9-]+':/gm)!;
    assert.equal(listed.length, codes.length, 'a key listed twice collapses into one');
  });

  test('every family of codes has a test that expects one of its codes', () => {
    const tests = sources('test');
    const families = [...new Set(codes.map(family))];
    const untested = families.filter((f) => !(f in unreachable) && !codes.some((code) => family(code) === f && tests.includes(`'${code}'`)));
    assert.deepEqual(untested, []);
    for (const f of Object.keys(unreachable)) assert.ok(families.includes(f), `${f} is no family any more: drop it from the exemptions`);
  });

  test('usage: a layer the trace lacks, no model given', () => {
    assert.throws(() => detailLayerIndices([1, 2, 3], [7], 'x.trace.safetensors'), hasCode('usage-layers'));
    const saved = process.env.MOE_INSPECT_MODEL;
    delete process.env.MOE_INSPECT_MODEL;
    try {
      assert.throws(() => modelOption(undefined), hasCode('usage-model'));
      assert.equal(modelOption('given'), 'given');
    } finally {
      if (saved !== undefined) process.env.MOE_INSPECT_MODEL = saved;
    }
  });

  test('placement and eplb: GPUs that do not split the experts, impossible EPLB shapes', () => {
    const load = loadMatrixFromRows([[1, 2, 3, 4, 5, 6, 7, 8]], 'load.json');
    assert.throws(() => analyseLoadMatrix(load, { name: 'load', gpus: 3 }), hasCode('placement-shape'));
    assert.throws(() => checkPlacementShape({ experts: 8, replicas: 0, groups: 1, nodes: 1, gpus: 1 }), hasCode('eplb-shape'));
    assert.throws(() => rebalanceExperts([], 8, 1, 1, 1), hasCode('eplb-empty'));
  });

  test('eval: a plan measured on a load of another shape', () => {
    const load = loadMatrixFromRows([[0, 0, 0, 0], [4, 3, 2, 1]], 'plan.json');
    const cluster = { replicas: 4, groups: 1, nodes: 1, gpus: 2 };
    assert.throws(() => planPlacement(load, cluster, loadMatrixFromRows([[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], 'today.json')), hasCode('eval-experts'));
    assert.throws(() => planPlacement(load, cluster, loadMatrixFromRows([[1, 1, 1, 1]], 'today.json')), hasCode('eval-layer'));
  });

  test('partial and resume: an interrupted run is kept, and resumed only with the same inputs', () => {
    const trace = path.join(dir, 'run.trace.safetensors');
    WorkDir.open(trace, { prompts: 'a', seed: 1 }, false);
    assert.throws(() => WorkDir.open(trace, { prompts: 'a', seed: 1 }, false), hasCode('partial-exists'));
    assert.throws(() => WorkDir.open(trace, { prompts: 'b', seed: 1 }, true), hasCode('resume-mismatch'));
    WorkDir.open(trace, { prompts: 'a', seed: 1 }, true);
  });

  test('output: synth refuses to write into a file or a non-empty folder', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    await assert.rejects(synthesize({ preset: 'tiny', out: file }), hasCode('output-exists'));
    const full = path.join(dir, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep'), 'x');
    await assert.rejects(synthesize({ preset: 'tiny', out: full }), hasCode('output-exists'));
  });
});

describe('unreadable inputs', () => {
  // Each reader used to word a missing file its own way ("prompts file not found", "file not found",
  // "cannot open (ENOENT: ...)", "cannot read the load file (ENOENT)").
  test('every reader says "no such file" for a missing file and "is a folder, not a file" for a folder', () => {
    const missing = path.join(dir, 'no-such-input.json');
    const folder = path.join(dir, 'a-folder.json');
    fs.mkdirSync(folder, { recursive: true });
    const readers: Array<[string, (file: string) => unknown]> = [
      ['prompts', (file) => readPrompts(file)],
      ['load matrix', (file) => readLoadMatrix(file)],
      ['load series', (file) => readLoadSeries(file)],
      ['safetensors', (file) => SafetensorsFile.open(file)],
      ['WiC data', (file) => readWicData(file, file)],
      ['JSON object', (file) => readJsonObject(file, { missing: 'config-missing', json: 'config-json', object: 'config-json' })],
    ];
    for (const [name, read] of readers) {
      assert.throws(() => read(missing), (error: unknown) => error instanceof InputError && error.message === `${missing}: no such file`, name);
      assert.throws(() => read(folder), (error: unknown) => error instanceof InputError && error.message === `${folder}: is a folder, not a file`, name);
    }
  });
});
