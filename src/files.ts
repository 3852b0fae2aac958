import fs from 'node:fs';
import path from 'node:path';
import type { ErrorCode } from './error-codes.js';
import { fileError } from './errors.js';
import { signalExitCodes, watchSignals } from './signals.js';

/**
 * The bytes of an input file, or an InputError that names it and says why in the same words for every input
 * (readFailure). `missing` replaces "no such file" where the reader can say why the file is needed.
 */
export function readInputFile(file: string, code: ErrorCode, missing?: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    const problem = missing !== undefined && (error as NodeJS.ErrnoException).code === 'ENOENT' ? missing : readFailure(error);
    throw fileError(file, code, problem, error);
  }
}

/** Why a file could not be read or opened: "no such file", "is a folder, not a file", "permission denied", else the system's code. */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return `cannot read (${code ?? (error as Error).message})`;
}

/**
 * The temporary name an output is written under before it is renamed into place: hidden, beside the final
 * file (so the rename stays on one file system), and unique to this process. Creates the folder, and removes
 * the temporaries of the same output that processes no longer running left behind (killed mid-write).
 */
export function temporaryPathFor(finalPath: string): string {
  // The commands check their output paths before any work (checkOutputFiles); this is the last line of defence.
  const dir = path.dirname(path.resolve(finalPath));
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw fileError(finalPath, 'output-path', `cannot create its folder (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
  }
  removeStaleTemporaries(finalPath);
  return path.join(dir, `.${path.basename(finalPath)}.${process.pid}.tmp`);
}

/**
 * Refuses, before any work starts, each output file path that names an existing folder or lies below an existing
 * file: otherwise the run would do all its work and fail at the final rename, or leave its other outputs written.
 */
export function checkOutputFiles(...files: Array<string | undefined>): void {
  for (const file of files) if (file !== undefined) checkOutputFile(file);
}

function checkOutputFile(file: string): void {
  if (file === '') throw fileError('(empty path)', 'output-path', 'give the path of the file to write');
  if (file.endsWith('/') || file.endsWith(path.sep)) throw fileError(file, 'output-path', 'ends in a slash, which names a folder; give the path of the file to write');
  checkParentsAreFolders(file);
  if (isFolder(file)) throw fileError(file, 'output-path', 'is a folder; give the path of the file to write');
}

/** Refuses an output folder path that names an existing file or lies below one. */
export function checkOutputFolder(folder: string): void {
  if (folder === '') throw fileError('(empty path)', 'output-path', 'give the path of a folder to write into');
  checkParentsAreFolders(folder);
  if (fs.existsSync(folder) && !isFolder(folder)) throw fileError(folder, 'output-path', 'is a file; give the path of a folder to write into');
}

function checkParentsAreFolders(target: string): void {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    if (fs.existsSync(dir)) {
      if (!isFolder(dir)) throw fileError(target, 'output-path', `${dir} is a file, not a folder`);
      return;
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Whether `file` is an existing folder; a path that cannot be looked at (a loop of links, no permission) is refused. */
function isFolder(file: string): boolean {
  try {
    return fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch (error) {
    throw fileError(file, 'output-path', `cannot be written (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
  }
}

/** Removes `.NAME.PID.tmp` beside `finalPath` for every PID that is no longer a running process; returns what it removed. */
function removeStaleTemporaries(finalPath: string): string[] {
  const dir = path.dirname(path.resolve(finalPath));
  const prefix = `.${path.basename(finalPath)}.`;
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? name.slice(prefix.length, -'.tmp'.length) : '';
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid || isRunning(Number(pid))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
}

/** Whether a process with this id exists (one of another user counts: signal 0 is then refused, not unknown). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes an output through a temporary name in the same folder and renames it into place once `write`
 * has finished, so a killed or failed run never leaves a half-written file under the final name. SIGINT or
 * SIGTERM meanwhile removes the temporary and ends the process (`write` must await now and then, see
 * yieldToSignals, for the signal to be handled before it finishes).
 */
export async function writeAtomically<T>(finalPath: string, write: (tmpPath: string) => Promise<T> | T): Promise<T> {
  const tmpPath = temporaryPathFor(finalPath);
  const watch = watchSignals({
    onFirst: (signal) => {
      fs.rmSync(tmpPath, { force: true, recursive: true });
      process.stderr.write(`moe-inspect: interrupted: removed the unfinished ${finalPath} (${signal})\n`);
      process.exit(signalExitCodes[signal]);
    },
    onSecond: () => 'interrupted',
  });
  try {
    const result = await write(tmpPath);
    fs.renameSync(tmpPath, finalPath);
    return result;
  } catch (error) {
    fs.rmSync(tmpPath, { force: true, recursive: true });
    throw error;
  } finally {
    watch.dispose();
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
