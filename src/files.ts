import fs from 'node:fs';
import path from 'node:path';

/**
 * The temporary name an output is written under before it is renamed into place: hidden, beside the final
 * file (so the rename stays on one file system), and unique to this process. Creates the folder.
 */
export function temporaryPathFor(finalPath: string): string {
  const dir = path.dirname(path.resolve(finalPath));
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `.${path.basename(finalPath)}.${process.pid}.tmp`);
}

/**
 * Writes an output through a temporary name in the same folder and renames it into place once `write`
 * has finished, so a killed or failed run never leaves a half-written file under the final name.
 */
export async function writeAtomically<T>(finalPath: string, write: (tmpPath: string) => Promise<T> | T): Promise<T> {
  const tmpPath = temporaryPathFor(finalPath);
  try {
    const result = await write(tmpPath);
    fs.renameSync(tmpPath, finalPath);
    return result;
  } catch (error) {
    fs.rmSync(tmpPath, { force: true, recursive: true });
    throw error;
  }
}

/** Synchronous form of writeAtomically for outputs built in memory (JSON, HTML). */
export function writeFileAtomically(finalPath: string, data: string | Uint8Array): void {
  const tmpPath = temporaryPathFor(finalPath);
  try {
    fs.writeFileSync(tmpPath, data);
    fs.renameSync(tmpPath, finalPath);
  } catch (error) {
    fs.rmSync(tmpPath, { force: true });
    throw error;
  }
}
