import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { synthesize } from '../../src/synth/synth.js';
import { repoRoot } from './cli.js';

/**
 * The tiny model (seed 3, bf16) and the first 120 bundled demo prompts in `dir`: 66 chunks at --batch-tokens 64,
 * enough for a run to be interrupted part-way.
 */
export async function tinyModelAndPrompts(dir: string): Promise<{ model: string; prompts: string }> {
  const model = path.join(dir, 'model');
  await synthesize({ preset: 'tiny', out: model, seed: 3, dtype: 'bf16' });
  const prompts = path.join(dir, 'prompts.txt');
  const lines = fs.readFileSync(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), 'utf8').split('\n').slice(0, 120);
  fs.writeFileSync(prompts, lines.join('\n'));
  return { model, prompts };
}

/** Sends `signal` to a running `route` once its work folder holds `chunks` finished chunks; resolves with its exit code. */
export async function signalAfterChunks(child: ChildProcess, partial: string, chunks: number, signal: NodeJS.Signals): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      const done = fs.existsSync(partial) ? fs.readdirSync(partial).filter((f) => f.startsWith('chunk-')).length : 0;
      if (done >= chunks) {
        clearInterval(timer);
        child.kill(signal);
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error(`route finished before ${signal} could be sent; use more prompts`));
    });
  });
  return exited;
}
