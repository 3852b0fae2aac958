import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Hand-built safetensors bytes for the loader tests, independent of the project's writer: an 8-byte
 * little-endian length (overridable, to test bad lengths), the header text as given, then `data`.
 */
export function safetensorsBytes(header: string | object, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + text.length + data.length);
  out.writeBigUInt64LE(headerLength ?? BigInt(text.length), 0);
  text.copy(out, 8);
  out.set(data, 8 + text.length);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A fresh folder under the system temp dir; the caller removes it. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `moe-inspect-${prefix}-`));
}

/** A small seeded generator, so fuzz cases replay exactly. Returns floats in [0, 1). */
export { mulberry32 as seededRandom } from '../../src/random.js';
