/**
 * Bad input: a file (model, image, array, state) that cannot be used. The message names the
 * file and the problem on one line; the CLI maps it to exit code 2.
 * @example throw new InputError("cat.png", "not an image"); // message "cat.png: not an image"
 */
export class InputError extends Error {
  readonly file: string;
  readonly problem: string;
  readonly exitCode = 2;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "InputError";
    this.file = file;
    this.problem = problem;
  }
}

/**
 * Bad usage (an option out of range, a combination that cannot work); CLI exit code 2.
 * @example throw new UsageError("invalid batch: 2 (the unbiased estimator needs 4 or more)");
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Every requested analysis was skipped for every model, each for its reason (an attention
 * analysis on a CNN, ...). The message lists them on one line; the CLI exits 1. `skipped` keeps
 * them as data, so a caller (the bench) can tell this from a failure without reading the message.
 * @example try { await prepare(files, o) } catch (e) { if (e instanceof NothingToRunError) e.skipped }
 */
export class NothingToRunError extends Error {
  readonly skipped: readonly { model?: string; analysis: string; reason: string }[];
  constructor(message: string, skipped: readonly { model?: string; analysis: string; reason: string }[]) {
    super(message);
    this.name = "NothingToRunError";
    this.skipped = skipped;
  }
}
