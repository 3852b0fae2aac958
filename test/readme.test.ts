/**
 * The README's command lines as a user copies them from a clone: every `moe-inspect` line names a command that
 * exists with options that command has, and the way the README says to run it from a clone (`npx moe-inspect`)
 * works. (That each example produces its output was checked by running them; see the report of issue 12.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot, runCli } from './helpers/cli.js';

/** Lines of the README's ```sh blocks that run moe-inspect, without comments. */
function readmeCommandLines(): string[] {
  const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => /(^|\s)(npx )?moe-inspect\s/.test(line));
}

describe('README command lines', () => {
  it('name existing commands with options those commands have', () => {
    const lines = readmeCommandLines();
    assert.ok(lines.length >= 15, `${lines.length} command lines found`);
    const help = new Map<string, string>();
    for (const line of lines) {
      const [, command, rest] = /moe-inspect\s+(\S+)(.*)$/.exec(line)!;
      if (command.startsWith('--')) continue;
      if (!help.has(command)) {
        const result = runCli([command, '--help']);
        assert.equal(result.code, 0, `"${line}": moe-inspect ${command} --help failed: ${result.stderr}`);
        help.set(command, result.stdout);
      }
      for (const flag of rest.match(/--[a-z][a-z0-9-]*/g) ?? []) {
        assert.ok(help.get(command)!.includes(flag), `"${line}": moe-inspect ${command} has no option ${flag}`);
      }
    }
  });

  it('run from a clone the way the README says: npx moe-inspect', (t) => {
    const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
    assert.match(readme, /npx moe-inspect demo/);
    assert.match(readme, /npm link/);
    // The first npx in a folder installs the clone into npx's cache as a file: dependency, which runs its
    // `prepare` script: tsc would rewrite dist/ under the test files running beside this one. The clone was
    // built already (npm test builds first), so scripts are skipped.
    const npx = spawnSync('npx', ['--no-install', 'moe-inspect', '--version'], {
      cwd: path.join(repoRoot(), 'docs'),
      env: { ...process.env, npm_config_ignore_scripts: 'true' },
      encoding: 'utf8',
    });
    if (npx.error) return t.skip('npx is not installed here');
    assert.equal(npx.status, 0, npx.stderr);
    assert.equal(npx.stdout.trim(), JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')).version);
  });
});
