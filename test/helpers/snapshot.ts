import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './cli.js';

/** Set to 1 to write (or rewrite) the snapshots the tests compare against, instead of failing on a difference. */
export const updateSnapshotsVariable = 'MOE_INSPECT_UPDATE_SNAPSHOTS';

/**
 * Compares `text` with test/snapshots/<name>. A missing or different snapshot fails the test, and the new
 * text is left next to it as <name>.changed to compare; with MOE_INSPECT_UPDATE_SNAPSHOTS=1 the snapshot is
 * written instead. So a snapshot changes only when someone asks, and review sees the change in git.
 */
export function matchesSnapshot(name: string, text: string, options: { dir?: string; update?: boolean } = {}): void {
  const { dir = path.join(repoRoot(), 'test', 'snapshots'), update = process.env[updateSnapshotsVariable] === '1' } = options;
  const file = path.join(dir, name);
  const changed = `${file}.changed`;
  if (update) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, text);
    fs.rmSync(changed, { force: true });
    return;
  }
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) {
    fs.rmSync(changed, { force: true });
    return;
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(changed, text);
  const why = fs.existsSync(file) ? 'differs from its snapshot' : 'has no snapshot';
  assert.fail(`${name} ${why}; the new text is in ${changed} (rerun with ${updateSnapshotsVariable}=1 to accept it)`);
}

/** A JSON snapshot's text: one key per line, so a change shows as a readable diff. */
export function snapshotJson(value: unknown): string {
  return `${JSON.stringify(value, null, 1)}\n`;
}
