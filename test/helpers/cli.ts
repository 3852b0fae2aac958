import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found upwards from this file (works from test/ and dist/test/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const bin = () => path.join(repoRoot(), 'bin', 'moe-inspect.js');

/**
 * The compiled CLI must exist (`npm test` builds it first): a suite that runs it fails without it rather
 * than skipping, so a run without a build cannot pass with the command-line tests left out.
 */
export function requireBuiltCli(): void {
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  requireBuiltCli();
  const result = spawnSync(process.execPath, [bin(), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    maxBuffer: 64 << 20,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export function spawnCli(args: string[]): ChildProcess {
  requireBuiltCli();
  return spawn(process.execPath, [bin(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
