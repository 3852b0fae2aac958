/**
 * `synth` writes gigabytes into a hidden temporary folder (`.OUT.PID.tmp`) before renaming it into place: Ctrl-C
 * must not leave that folder behind, and temporaries left by processes killed harder (SIGKILL, power loss) are
 * removed by the next run that writes the same output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, spawnCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';


/** Size in bytes of everything under `dir`. */
function bytesUnder(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).reduce((sum, entry) => (entry.isFile() ? sum + fs.statSync(path.join(entry.parentPath, entry.name)).size : sum), 0);
}

describe('synth interrupted', () => {
  let dir: string;
  before(() => {
    dir = tempDir('synth-interrupt');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('SIGINT while writing removes the temporary folder and exits 130', async () => {
    const out = path.join(dir, 'big');
    // deepseek-moe-16b's first two layers: about 2 GB in bf16, seconds of writing, during which the signal comes.
    const child = spawnCli(['synth', '--preset', 'deepseek-moe-16b', '--layers', '2', '--out', out]);
    let stderr = '';
    child.stderr!.on('data', (data) => (stderr += data));
    const temporary = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const name = fs.readdirSync(dir).find((f) => f.startsWith('.big.') && f.endsWith('.tmp'));
        if (name && bytesUnder(path.join(dir, name)) > 16 << 20) {
          clearInterval(timer);
          child.kill('SIGINT');
          resolve(name);
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error(`synth ended before it was interrupted: ${stderr}`));
      });
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: removed the unfinished .*big/);
    assert.ok(!fs.existsSync(path.join(dir, temporary)), 'the temporary folder is gone');
    assert.ok(!fs.existsSync(out));
  });

  it('removes temporaries of processes no longer running, and keeps those of running ones', () => {
    const out = path.join(dir, 'tiny');
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = path.join(dir, `.tiny.${gone}.tmp`);
    const live = path.join(dir, `.tiny.${process.pid}.tmp`);
    for (const folder of [stale, live]) {
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'model-00001-of-00002.safetensors'), 'half-written');
    }
    const result = runCli(['synth', '--preset', 'tiny', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!fs.existsSync(stale), `the temporary of process ${gone}, which has ended, is removed`);
    assert.ok(fs.existsSync(live), 'the temporary of a running process is left alone');
    assert.ok(fs.existsSync(path.join(out, 'config.json')));
  });
});
