/**
 * The resume work folder keeps every per-token tensor of a finished chunk, unbiased_topk_ids included (models
 * with e_score_correction_bias), so a resumed run assembles the same trace as an uninterrupted one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { WorkDir } from '../src/route/work-dir.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('work-dir');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('WorkDir', () => {
  test('a saved chunk reads back tensor by tensor, with and without unbiased_topk_ids', () => {
    const trace = path.join(dir, 'run.trace.safetensors');
    const fingerprint = { tool_version: 'test', prompts_sha256: 'abc' };
    const work = WorkDir.open(trace, fingerprint, false);
    // 3 tokens, 2 layers, K = 2, E = 4.
    const record = {
      topkIds: Int32Array.of(0, 1, 2, 3, 1, 0, 3, 2, 0, 2, 1, 3),
      topkWeights: Float32Array.from({ length: 12 }, (_, i) => i / 8),
      scoreSum: Float64Array.from({ length: 8 }, (_, i) => i * 1.5),
      unbiasedTopkIds: Int32Array.of(1, 0, 2, 3, 1, 2, 3, 0, 0, 2, 3, 1),
    };
    work.save(0, 3, 2, 2, 4, record);
    const { unbiasedTopkIds: _, ...withoutBias } = record;
    work.save(1, 3, 2, 2, 4, withoutBias);
    assert.deepEqual(work.read(0, 'topk_ids'), record.topkIds);
    assert.deepEqual(work.read(0, 'topk_weights'), record.topkWeights);
    assert.deepEqual(work.read(0, 'score_sum'), record.scoreSum);
    assert.deepEqual(work.read(0, 'unbiased_topk_ids'), record.unbiasedTopkIds);
    assert.throws(() => work.read(1, 'unbiased_topk_ids'), 'a chunk of a model without the bias has none');
    // A resume of the same run finds the chunks done.
    const resumed = WorkDir.open(trace, fingerprint, true);
    assert.ok(resumed.isDone(0) && resumed.isDone(1) && !resumed.isDone(2));
    resumed.remove();
  });
});
