import { InvalidArgumentError } from 'commander';

/** commander argument parser for positive integers; commander reports the error as bad usage. */
export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, found "${value}"`);
    return n;
  };
}

/** commander argument parser for non-negative integers. */
export function nonNegativeInteger(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be a non-negative integer, found "${value}"`);
    return n;
  };
}

/** commander argument parser for a non-negative number of GiB, returned in bytes. */
export function gibibytes(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number of GiB, found "${value}"`);
    return n * 1024 ** 3;
  };
}

/** commander argument parser for a comma-separated list of positive integers, e.g. "8,16,32". */
export function positiveIntegerList(flag: string): (value: string) => number[] {
  const one = positiveInteger(flag);
  return (value) => value.split(',').map((part) => one(part.trim()));
}
