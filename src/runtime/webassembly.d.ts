/**
 * The part of the WebAssembly JavaScript API that runtime/bf16-widener.ts uses. Node has it as a global, but
 * TypeScript declares it only in its DOM libraries, which this project does not load.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, Memory>>);
    readonly exports: Record<string, unknown>;
  }
}
