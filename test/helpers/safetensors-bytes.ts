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

/** mulberry32: a small seeded generator, so fuzz cases replay exactly. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
