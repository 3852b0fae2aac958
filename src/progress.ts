/**
 * A one-line progress bar on stderr with throughput and ETA, drawn only when stderr is a terminal
 * (contract.md: long work stays quiet otherwise).
 */
export interface Progress {
  advance(amount: number): void;
  /** Sets the absolute position. */
  set(current: number): void;
  done(): void;
}

export function createProgress(label: string, total: number, unit: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total <= 0) return { advance() {}, set() {}, done() {} };
  const started = Date.now();
  let current = 0;
  let lastDraw = 0;
  const draw = () => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? current / elapsed : 0;
    const eta = rate > 0 ? (total - current) / rate : NaN;
    const width = 30;
    const filled = Math.round((width * current) / total);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const percent = ((100 * current) / total).toFixed(0).padStart(3);
    stream.write(`\r${label} [${bar}] ${percent}% ${Math.round(current).toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${unit}  ${Math.round(rate).toLocaleString('en-US')} ${unit}/s  ETA ${formatSeconds(eta)}  `);
  };
  const set = (value: number) => {
    current = Math.min(total, value);
    if (Date.now() - lastDraw > 200 || current === total) {
      lastDraw = Date.now();
      draw();
    }
  };
  return {
    advance: (amount) => set(current + amount),
    set,
    done() {
      current = total;
      draw();
      stream.write('\n');
    },
  };
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(s % 60).padStart(2, '0')}`;
}
