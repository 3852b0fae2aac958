/**
 * bf16 -> fp32 in WebAssembly SIMD. A bf16 is the top half of a float32, so widening is a byte shuffle: each
 * 16-byte load of 8 bf16 values becomes two 16-byte stores of 4 float32s whose low halves are zero. JavaScript's
 * typed-array loop does the same at about 0.4 Gvalue/s per core; this runs at the speed of memory. The module
 * works in a small memory of its own (a piece of input and its output, sized to stay in the core's cache), so
 * callers read stored bytes into `input`, call widen, and copy `output` to where the values belong.
 */

/** Values per piece: 128 KiB of bf16 in, 256 KiB of fp32 out. */
const pieceValues = 1 << 16;

export class Bf16Widener {
  /** Where the caller puts up to `pieceValues` bf16 values (2 bytes each, little-endian). */
  readonly input: Uint8Array;
  static readonly pieceValues = pieceValues;
  private readonly output: Float32Array;
  private readonly widenPiece: (input: number, output: number, values: number) => void;

  constructor() {
    const inputBytes = 2 * pieceValues;
    const pages = Math.ceil((inputBytes + 4 * pieceValues) / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const instance = new WebAssembly.Instance(widenModule(), { env: { memory } });
    this.widenPiece = instance.exports.widen as (input: number, output: number, values: number) => void;
    this.input = new Uint8Array(memory.buffer, 0, inputBytes);
    this.output = new Float32Array(memory.buffer, inputBytes, pieceValues);
  }

  /** The fp32 values of the first `values` bf16 values in `input` (a view, overwritten by the next call). */
  widen(values: number): Float32Array {
    if (values > pieceValues) throw new Error(`bf16 piece of ${values} values is over ${pieceValues}`);
    // The loop runs in steps of 8 values; the last step reads and writes past `values`, within the pieces.
    this.widenPiece(0, this.input.length, values);
    return this.output.subarray(0, values);
  }
}

let compiled: WebAssembly.Module | undefined;

/**
 * The module, assembled here (it is small) so the build needs no WebAssembly toolchain. In text format:
 *
 *   (import "env" "memory" (memory 1))
 *   (func (export "widen") (param $in i32) (param $out i32) (param $n i32) (local $v v128)
 *     (block (loop
 *       (br_if 1 (i32.le_s (local.get $n) (i32.const 0)))
 *       (local.set $v (v128.load (local.get $in)))
 *       (v128.store offset=0  (local.get $out) (i8x16.shuffle <low lanes>  (v128.const 0) (local.get $v)))
 *       (v128.store offset=16 (local.get $out) (i8x16.shuffle <high lanes> (v128.const 0) (local.get $v)))
 *       (local.set $in (i32.add (local.get $in) (i32.const 16)))
 *       (local.set $out (i32.add (local.get $out) (i32.const 32)))
 *       (local.set $n (i32.sub (local.get $n) (i32.const 8)))
 *       (br 0))))
 *
 * A shuffle picks bytes from the 32 of (zero, v): float32 k of the low half is bytes [0, 0, 16 + 2k, 17 + 2k].
 */
function widenModule(): WebAssembly.Module {
  if (compiled) return compiled;
  const zero = Array(16).fill(0);
  const lanes = (first: number) => [0, 1, 2, 3].flatMap((k) => [0, 0, 16 + 2 * (first + k), 17 + 2 * (first + k)]);
  const [i32, v128, localGet, localSet, i32Const, simd] = [0x7f, 0x7b, 0x20, 0x21, 0x41, 0xfd];
  const [v128Load, v128Store, v128Const, shuffle] = [0x00, 0x0b, 0x0c, 0x0d];
  const half = (first: number, storeOffset: number) => [
    localGet, 1,
    simd, v128Const, ...zero,
    localGet, 3,
    simd, shuffle, ...lanes(first),
    simd, v128Store, 0, storeOffset,
  ];
  const advance = (local: number, by: number) => [localGet, local, i32Const, by, 0x6a, localSet, local]; // local += by
  const body = [
    1, 1, v128, // one local: $v
    0x02, 0x40, 0x03, 0x40, // block, loop
    localGet, 2, i32Const, 0, 0x4c, 0x0d, 1, // br_if 1 (n <= 0)
    localGet, 0, simd, v128Load, 0, 0, localSet, 3,
    ...half(0, 0),
    ...half(4, 16),
    ...advance(0, 16),
    ...advance(1, 32),
    localGet, 2, i32Const, 8, 0x6b, localSet, 2, // n -= 8
    0x0c, 0, // br 0
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  ];
  const name = (text: string) => [text.length, ...Buffer.from(text)];
  const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 3, i32, i32, i32, 0]), // type 0: (i32, i32, i32) -> ()
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0, 1]), // memory, at least 1 page
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(7, [1, ...name('widen'), 0x00, 0]), // export function 0
    ...section(10, [1, ...leb(body.length), ...body]),
  ];
  compiled = new WebAssembly.Module(new Uint8Array(bytes));
  return compiled;
}

/** Unsigned LEB128, the encoding of sizes in a WebAssembly binary. */
function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}
