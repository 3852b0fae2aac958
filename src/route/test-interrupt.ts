/**
 * Deterministic interruption points for the resume tests (test/route-resume.test.ts): a layer of a test model
 * runs in milliseconds, far too quickly to signal the process from outside at a chosen layer. Inert unless
 * MOE_INSPECT_TEST_INTERRUPT is set, to one of:
 *   after-layer:L:SIGNAL[:COUNT]  once model layer L has run in a layer-streamed pass, the process sends itself
 *                                 SIGNAL (SIGINT or SIGTERM), COUNT times (default 1), as a user pressing Ctrl-C would;
 *   during-save:L                 the process kills itself (SIGKILL) half-way through saving the pass state after layer L.
 */
import type { SignalWatch, StopSignal } from '../signals.js';

type Plan = { point: 'after-layer'; layer: number; signal: StopSignal; count: number } | { point: 'during-save'; layer: number };

function plan(): Plan | undefined {
  const value = process.env.MOE_INSPECT_TEST_INTERRUPT;
  if (!value) return undefined;
  const [point, layer, signal = 'SIGINT', count = '1'] = value.split(':');
  if (point === 'during-save') return { point, layer: Number(layer) };
  if (point === 'after-layer' && (signal === 'SIGINT' || signal === 'SIGTERM')) return { point, layer: Number(layer), signal, count: Number(count) };
  throw new Error(`MOE_INSPECT_TEST_INTERRUPT: cannot read "${value}"`);
}

/** After model layer `layer` ran: sends the planned signals and waits until the watch has seen the first. */
export async function signalAfterLayerForTest(layer: number, watch: SignalWatch): Promise<void> {
  const p = plan();
  if (p?.point !== 'after-layer' || p.layer !== layer) return;
  for (let i = 0; i < p.count; i++) {
    process.kill(process.pid, p.signal);
    // A signal reaches its handler through the event loop; this waits for it, as a signal arriving while the layer
    // ran would have been handled by now. A second signal ends the process during the wait.
    const handled = () => i === 0 && watch.received !== undefined;
    for (let waited = 0; !handled() && waited < 5000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Half-way through saving the state after `layer`: the planned hard kill. */
export function killDuringSaveForTest(layer: number): void {
  const p = plan();
  if (p?.point === 'during-save' && p.layer === layer) process.kill(process.pid, 'SIGKILL');
}
