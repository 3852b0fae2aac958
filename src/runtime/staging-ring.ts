/**
 * How two threads share the conversion of one graph buffer that only one of them can hold (onnxruntime-node
 * refuses tensors over a SharedArrayBuffer, so the buffer is a plain ArrayBuffer on the main thread). Both
 * threads claim the buffer's jobs from one counter; the main thread converts its claims in place, the worker
 * converts its claims a piece at a time into a small ring of shared slots, and the main thread copies each full
 * slot to its place. Copying costs the main thread about a third of converting, so the two threads finish
 * together even when one buffer holds most of a layer (a MoE layer's gate/up experts: 63% of it).
 *
 * Slots are filled and emptied in ring order. A slot's state is Atomics-guarded: the worker fills a free slot and
 * marks it full; the main thread copies a full slot and marks it free.
 */

/** Slots in the ring, each one bf16 piece of fp32 values. */
const slotCount = 8;
const [next, failed, slotsStart, fieldsPerSlot] = [0, 1, 2, 4];
const [state, jobField, startField, countField] = [0, 1, 2, 3];
const [free, full] = [0, 1];

/** The ring's memory, sent to the worker as is (SharedArrayBuffers are shared, not copied). */
export interface RingMemory {
  control: SharedArrayBuffer;
  values: SharedArrayBuffer;
}

export class StagingRing {
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  /** Next slot this side fills (worker) or empties (main thread). */
  private cursor = 0;

  static create(pieceValues: number): StagingRing {
    return new StagingRing({ control: new SharedArrayBuffer(4 * (slotsStart + slotCount * fieldsPerSlot)), values: new SharedArrayBuffer(4 * slotCount * pieceValues) });
  }

  constructor(readonly memory: RingMemory) {
    this.control = new Int32Array(memory.control);
    const pieceValues = memory.values.byteLength / 4 / slotCount;
    this.slots = Array.from({ length: slotCount }, (_, i) => new Float32Array(memory.values, 4 * i * pieceValues, pieceValues));
  }

  /** Before a buffer's jobs are shared out (main thread, while the worker is idle). */
  reset(): void {
    this.control.fill(0);
    this.cursor = 0;
  }

  /** The next unclaimed job index (it may be past the last job: then none is left). */
  claim(): number {
    return Atomics.add(this.control, next, 1);
  }

  // The worker's side.

  /** Fills the next slot with `count` values of `job` from `start`, waiting for it to be free. */
  put(job: number, start: number, count: number, fill: (slot: Float32Array) => void): void {
    const base = this.slotBase();
    while (Atomics.load(this.control, base + state) === full) {
      if (Atomics.load(this.control, failed) === 1) throw new Error('the main thread stopped converting (its own error is reported)');
      Atomics.wait(this.control, base + state, full, 100);
    }
    fill(this.slots[this.cursor].subarray(0, count));
    this.control[base + jobField] = job;
    this.control[base + startField] = start;
    this.control[base + countField] = count;
    Atomics.store(this.control, base + state, full);
    Atomics.notify(this.control, base + state);
    this.cursor = (this.cursor + 1) % slotCount;
  }

  /** One side failed: the other stops waiting for slots (either side calls it). */
  fail(): void {
    Atomics.store(this.control, failed, 1);
    for (let i = 0; i < slotCount; i++) Atomics.notify(this.control, slotsStart + i * fieldsPerSlot + state);
  }

  // The main thread's side.

  /** Empties the full slots in ring order without waiting; returns the values taken. */
  takeReady(place: (job: number, start: number, values: Float32Array) => void): number {
    let taken = 0;
    while (Atomics.load(this.control, this.slotBase() + state) === full) taken += this.take(place);
    return taken;
  }

  /** Waits for the next slot and empties it; returns the values taken (0 when the worker failed). */
  takeNext(place: (job: number, start: number, values: Float32Array) => void): number {
    const base = this.slotBase();
    while (Atomics.load(this.control, base + state) !== full) {
      if (Atomics.load(this.control, failed) === 1) return 0;
      Atomics.wait(this.control, base + state, free, 100);
    }
    return this.take(place);
  }

  private take(place: (job: number, start: number, values: Float32Array) => void): number {
    const base = this.slotBase();
    const count = this.control[base + countField];
    place(this.control[base + jobField], this.control[base + startField], this.slots[this.cursor].subarray(0, count));
    Atomics.store(this.control, base + state, free);
    Atomics.notify(this.control, base + state);
    this.cursor = (this.cursor + 1) % slotCount;
    return count;
  }

  private slotBase(): number {
    return slotsStart + this.cursor * fieldsPerSlot;
  }
}
