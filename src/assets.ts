import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's assets/ folder (presets, bundled prompts), found upwards from this file so it works from src/ and dist/src/. */
export function assetPath(...parts: string[]): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'assets', 'presets'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('moe-inspect: the package assets/ folder is missing');
    dir = parent;
  }
  return path.join(dir, 'assets', ...parts);
}
