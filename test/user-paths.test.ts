/**
 * Paths as users type them: `info` given the model's config.json instead of its folder, and the folder `demo`
 * writes by default, which the README names and git ignores (so a demo run in a clone leaves `git status` clean).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoDefaults } from '../src/demo/demo.js';
import { synthesize } from '../src/synth/synth.js';
import { repoRoot, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

describe('paths users type', () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = tempDir('user-paths');
    model = path.join(dir, 'model');
    await synthesize({ preset: 'tiny', out: model });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('info MODEL/config.json describes the model folder, as info MODEL does', () => {
    const byFolder = runCli(['info', model, '--json']);
    const byConfig = runCli(['info', path.join(model, 'config.json'), '--json']);
    assert.equal(byFolder.code, 0, byFolder.stderr);
    assert.equal(byConfig.code, 0, byConfig.stderr);
    assert.deepEqual(JSON.parse(byConfig.stdout), JSON.parse(byFolder.stdout));
    const missing = runCli(['info', path.join(dir, 'absent', 'config.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /absent.*config\.json/);
  });

  it('demo writes where the README says, into a folder git ignores', (t) => {
    const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
    assert.ok(readme.includes(`\`${demoDefaults.out}/report.html\``), `the README names ${demoDefaults.out}/report.html`);
    const git = spawnSync('git', ['check-ignore', '--no-index', `${demoDefaults.out}/report.html`], { cwd: repoRoot(), encoding: 'utf8' });
    if (git.error || git.status === 128) return t.skip('not a git checkout');
    assert.equal(git.status, 0, `${demoDefaults.out}/ is not ignored by git`);
  });
});
