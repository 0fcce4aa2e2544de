/**
 * The command line's one place for the process: exit codes (0 success, 1 failure, 2 bad input
 * or usage, 130 interrupted), Ctrl-C (the first stops a run after its batch with a checkpoint,
 * a second, or any in a command that cannot stop cleanly, quits at once), progress and warnings
 * on stderr. Commands themselves are in program.ts.
 */
import { CommanderError } from "commander";
import { InputError, UsageError } from "../errors.js";
import { Interrupted } from "../engine/stream.js";
import { progressPrinter } from "../engine/progress.js";
import { buildProgram } from "./program.js";

/** What commands get from the CLI: output streams, progress, warnings and the Ctrl-C state. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  /** A progress printer on stderr, or none when quiet. */
  progress(quiet?: boolean): ReturnType<typeof progressPrinter> | undefined;
  /** Prints warnings after the work, so an error is always the one line a failed run prints. */
  warnings(list: readonly string[], quiet?: boolean): void;
  /** True once Ctrl-C asked the running command to stop after its current batch. */
  stopRequested(): boolean;
}

/** Exit code of an interrupted command (128 + SIGINT), as shells report it. */
export const INTERRUPTED = 130;

/** Runs the CLI on `argv` (as in process.argv) and returns the exit code. */
export async function main(
  argv: string[],
  streams: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
): Promise<number> {
  let stopping = false;
  let cooperative = false;
  const io: CliIO = {
    ...streams,
    progress(quiet) {
      return quiet ? undefined : progressPrinter(process.stderr);
    },
    warnings(list, quiet) {
      if (!quiet) for (const w of list) streams.err(`seelike: warning: ${w}\n`);
    },
    stopRequested: () => stopping,
  };
  const onSignal = () => {
    if (stopping || !cooperative) {
      streams.err("\nseelike: interrupted\n");
      process.exit(INTERRUPTED);
    }
    stopping = true;
    streams.err("\nseelike: stopping after this batch (Ctrl-C again to quit at once)\n");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // A run is cooperative from its start even when quiet: it checks stopRequested between batches.
    cooperative = ["analyze", "compare", "demo"].includes(argv[2] ?? "");
    await buildProgram(io).parseAsync(argv);
    return 0;
  } catch (e) {
    return exitCode(e, streams.err);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** The exit code of an error, after printing it as one line. */
function exitCode(e: unknown, err: (s: string) => void): number {
  if (e instanceof CommanderError) {
    // help and version exit 0; parse errors are bad usage (commander already printed them).
    return e.exitCode === 0 ? 0 : 2;
  }
  const message = oneLine((e as Error)?.message ?? String(e));
  if (e instanceof Interrupted) {
    err(`seelike: ${message}\n`);
    return INTERRUPTED;
  }
  err(`seelike: ${message}\n`);
  if (e instanceof InputError || e instanceof UsageError || e instanceof RangeError) return 2;
  if (process.env.SEELIKE_DEBUG) err(`${(e as Error)?.stack ?? ""}\n`);
  return 1;
}

function oneLine(s: string): string {
  // Names from models and files reach the terminal: control characters (escape sequences) are shown as \xNN.
  return s.replace(/\s*\n\s*/g, " ").trim().replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
