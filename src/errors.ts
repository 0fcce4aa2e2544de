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
