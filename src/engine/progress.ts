/**
 * Progress reporting for long runs. The library reports through a callback and never prints;
 * the CLI turns events into a bar on a terminal, plain lines otherwise, nothing with --quiet.
 */
export interface ProgressEvent {
  /** What is running, e.g. "vit-tiny.onnx" or "probes: train split". */
  phase: string;
  done: number;
  total: number;
  /** Seconds since the phase started. */
  elapsed: number;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** A progress printer for a stream: a redrawn bar on a TTY, a line every ~5 s otherwise. */
export function progressPrinter(stream: { write(s: string): unknown; isTTY?: boolean }, unit = "img"): ProgressCallback & { end(): void } {
  let lastLine = 0;
  let drawn = false;
  const print = (e: ProgressEvent) => {
    const rate = e.elapsed > 0 ? e.done / e.elapsed : 0;
    const eta = rate > 0 ? (e.total - e.done) / rate : NaN;
    const pct = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
    const stats = `${e.done}/${e.total} ${unit} ${rate.toFixed(1)} ${unit}/s ETA ${formatSeconds(eta)}`;
    if (stream.isTTY) {
      const width = 24;
      const fill = Math.round(pct * width);
      stream.write(`\r${e.phase.slice(0, 32).padEnd(32)} [${"#".repeat(fill)}${"-".repeat(width - fill)}] ${stats}\x1b[K`);
      drawn = true;
    } else {
      const now = Date.now();
      if (now - lastLine >= 5000 || e.done === e.total) {
        stream.write(`${e.phase}: ${stats}\n`);
        lastLine = now;
      }
    }
  };
  return Object.assign(print, {
    end() {
      if (drawn) stream.write("\n");
      drawn = false;
    },
  });
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  return `${m}:${String(r).padStart(2, "0")}`;
}
