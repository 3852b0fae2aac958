import type { ErrorCode } from '../error-codes.js';
import { fileError } from '../errors.js';
import { readInputFile } from '../files.js';

/** The error codes of the three ways reading a JSON object from a file fails. */
export interface JsonFileCodes {
  /** The file is missing or cannot be read. */
  missing: ErrorCode;
  /** It is not valid JSON. */
  json: ErrorCode;
  /** It is JSON, but not an object. */
  object: ErrorCode;
}

/**
 * Reads a JSON object from `file`, or throws an InputError naming the file and the problem. `missing` is
 * what to say when the file does not exist (why it is needed).
 */
export function readJsonObject(file: string, codes: JsonFileCodes, missing?: string): Record<string, unknown> {
  const text = readInputFile(file, codes.missing, missing).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fileError(file, codes.json, `not valid JSON (${(error as Error).message})`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fileError(file, codes.object, 'expected a JSON object');
  return value as Record<string, unknown>;
}
