/**
 * SIGINT (Ctrl-C) and SIGTERM during long work. onnxruntime and the synchronous writers hold the JavaScript
 * thread while they work, so a handler cannot stop them where they are: the first signal is only recorded, and
 * the work stops at its next safe point (after saving what it has) by throwing `Interrupted`. A second signal
 * means "now": `onSecond` says what is lost and the process exits at once.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The shell's convention: 128 + the signal's number. */
export const signalExitCodes: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** Work stopped on a signal; `main` prints the message on one line and exits with the signal's code. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(
    readonly signal: StopSignal,
    message: string,
  ) {
    super(message);
  }

  get exitCode(): number {
    return signalExitCodes[this.signal];
  }
}

export interface SignalWatch {
  /** The first signal received, if any. */
  readonly received: StopSignal | undefined;
  /** Removes the handlers: signals act as before again. */
  dispose(): void;
}

/**
 * Watches for SIGINT and SIGTERM until disposed. `onFirst` runs on the first signal (a work that cannot stop at
 * a safe point cleans up and exits there); `onSecond` returns the line printed before exiting at once.
 */
export function watchSignals(handlers: { onFirst?: (signal: StopSignal) => void; onSecond: (signal: StopSignal) => string }): SignalWatch {
  let received: StopSignal | undefined;
  const handle = (signal: StopSignal) => {
    if (received === undefined) {
      received = signal;
      handlers.onFirst?.(signal);
      return;
    }
    process.stderr.write(`moe-inspect: ${handlers.onSecond(signal)}\n`);
    process.exit(signalExitCodes[signal]);
  };
  const onInt = () => handle('SIGINT');
  const onTerm = () => handle('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** Lets pending signal handlers run: synchronous work in a loop calls this now and then. */
export function yieldToSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
