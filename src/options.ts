/**
 * The options table: every option of a run, declared once with its flag, default, choices and
 * parser. The CLI's flags, the library's `RunOptions` type and the settings record (METHODS.md
 * §8) are all generated from it. Run-level options live here; each analysis declares its own in
 * its pipeline file (src/pipelines/), and the registry gathers them.
 */
import { UsageError } from "./errors.js";
import type { DataSource } from "./data/types.js";
import type { PreprocessOptions, PreprocessOverrides } from "./data/preprocess.js";
import type { Device } from "./runtime/session.js";
import { parseShard } from "./data/sampling.js";
import { parseMemory } from "./limits.js";

/**
 * One option. `T` is the library's value type; `parse` turns one CLI string into it (and, for a
 * repeatable flag, folds it into the previous value).
 */
export interface OptionSpec<K extends string = string, T = unknown> {
  /** The library's name (`RunOptions[key]`) and, kebab-cased, the CLI flag. */
  key: K;
  /** Commander flag syntax, e.g. "--estimator <id>"; omitted for library-only options. */
  flag?: string;
  description: string;
  default?: T;
  choices?: readonly string[];
  parse?: (raw: string, previous: T | undefined) => T;
  /** Which analysis owns it ("run" for the run itself): help, docs and the report group by it. */
  owner: string;
  /** How the value enters the settings record: under `key` as is (true) or converted; absent = not recorded. */
  record?: true | ((value: T) => unknown);
  /** A CLI-only flag folded into another option by `cliOptions` (e.g. --mean into preprocessOverrides). */
  cliOnly?: true;
}

/** Declares an option without a default, keeping its key and value types for the generated `RunOptions`. */
export function option<K extends string, T>(spec: Omit<OptionSpec<K, T>, "default">): OptionSpec<K, T> {
  return spec;
}

/** Declares an option with a default; its type says so, for the resolved options of a run. */
export function defaulted<K extends string, T>(spec: OptionSpec<K, T> & { default: T }): OptionSpec<K, T> & { default: T } {
  return spec;
}

/** The value type of an option spec. */
export type OptionValue<O> = O extends OptionSpec<string, infer T> ? T : never;

/** `{ key?: value }` for a list of option specs. */
export type OptionValues<O extends OptionSpec<string, any>> = {
  [S in O as S["key"]]?: OptionValue<S>;
};

/** The keys of the specs that declare a default (`defaulted`). */
export type DefaultedKeys<O extends OptionSpec<string, any>> = O extends { default: unknown } ? O["key"] : never;

// ---------------------------------------------------------------------------------------------
// Parsers shared by the table and the pipelines

/** A positive integer. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`invalid ${name}: ${value}`);
    return n;
  };
}

/** A non-negative integer. */
export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid ${name}: ${value}`);
    return n;
  };
}

/** Comma-separated finite numbers. */
export function numberList(name: string) {
  return (value: string): number[] => {
    const parts = value.split(",").map((s) => Number(s.trim()));
    if (parts.some((x) => !Number.isFinite(x))) throw new UsageError(`invalid ${name}: ${value}`);
    return parts;
  };
}

/** One of `choices`. */
export function oneOf<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new RangeError(`invalid ${name}: ${value} (choose from ${choices.join(", ")})`);
    return value as T;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// ---------------------------------------------------------------------------------------------
// Run-level options

/** Options of the run itself (models, data, batching, runtime, checkpoints); analyses add theirs. */
export const RUN_OPTIONS = [
  option<"data", string | DataSource>({ key: "data", flag: "--data <path>", description: "image folder, IDX file, .npy array or CSV manifest", owner: "run" }),
  option<"labels", string>({ key: "labels", flag: "--labels <path>", description: "labels file for the data (IDX or .npy) when they are not in the data itself", owner: "run" }),
  option<"trainData", string | DataSource>({ key: "trainData", flag: "--train-data <path>", description: "training split for the linear probes (same formats as --data)", owner: "run" }),
  option<"classes", string>({ key: "classes", flag: "--classes <file>", description: "the model's class names in its output order (one per line, or a JSON list): image-folder classes are matched to them by name (default: the model card's \"classes\", else the ONNX metadata_props \"classes\")", owner: "run" }),
  option<"trainLabels", string>({ key: "trainLabels", flag: "--train-labels <path>", description: "labels for --train-data", owner: "run" }),
  option<"limit", number>({ key: "limit", flag: "--limit <n>", description: "number of images (default: all)", parse: positiveInt("limit"), owner: "run" }),
  defaulted<"seed", number>({ key: "seed", flag: "--seed <n>", description: "seed for sampling and reshuffles", default: 0, parse: nonNegativeInt("seed"), owner: "run", record: true }),
  defaulted<"batch", number | "auto">({
    key: "batch", flag: "--batch <n>", description: "batch size (the CKA minibatch n; ≥ 4 for the unbiased estimator), or auto: the largest power of two up to 64 whose estimated memory fits --max-memory",
    default: "auto", parse: (s) => (s === "auto" ? "auto" : positiveInt("batch")(s)), owner: "run", record: true,
  }),
  option<"extraSites", Record<string, string | RegExp>>({ key: "extraSites", description: "extra or overriding sites: canonical name → exporter tensor name or RegExp", owner: "run" }),
  option<"preprocess", PreprocessOptions["preset"]>({
    key: "preprocess", flag: "--preprocess <preset>", description: "preprocessing preset (default: the model card next to the model, else imagenet)",
    choices: ["imagenet", "inception", "none", "card"], owner: "run",
  }),
  option<"preprocessOverrides", PreprocessOverrides>({ key: "preprocessOverrides", description: "overrides of the preprocessing (mean, std, resize, crop)", owner: "run" }),
  option<"modelLabels", readonly string[]>({ key: "modelLabels", description: "model labels shown in the report (default: file names without .onnx)", owner: "run" }),
  option<"threads", number>({ key: "threads", flag: "--threads <n>", description: "onnxruntime intra-op threads", parse: positiveInt("threads"), owner: "run" }),
  option<"lowMemory", boolean>({
    key: "lowMemory", flag: "--low-memory",
    description: "run onnxruntime without its memory arena: a lower peak where a run holds large tensors across layers (attention collapse on ViT-B/16 + ResNet-50: about 0.6× the memory), at the cost of page faults on every batch (about 1.4× the time there)",
    owner: "run",
  }),
  defaulted<"device", Device>({ key: "device", flag: "--device <device>", description: "execution provider", default: "cpu", choices: ["cpu", "cuda"], owner: "run" }),
  option<"shard", { index: number; count: number }>({
    key: "shard", flag: "--shard <i/n>", description: "process shard i of n (0-based) and write its state for `seelike merge`", owner: "run",
    parse: (s) => {
      try {
        return parseShard(s);
      } catch (e) {
        throw new UsageError(`invalid --shard ${s}: ${(e as Error).message}`);
      }
    },
    record: (v) => v?.count ?? 1,
  }),
  option<"checkpoint", string>({ key: "checkpoint", description: "checkpoint file (state saved every `checkpointEvery` batches)", owner: "run" }),
  defaulted<"checkpointEvery", number>({ key: "checkpointEvery", flag: "--checkpoint-every <k>", description: "save reducer state every k batches", default: 10, parse: positiveInt("checkpoint-every"), owner: "run" }),
  option<"figures", string>({ key: "figures", flag: "--figures <dir>", description: "also write every figure of the report as SVG and PNG into this folder", owner: "run" }),
  option<"resume", boolean>({ key: "resume", flag: "--resume", description: "resume from the checkpoint next to --out", owner: "run" }),
  option<"skipBad", boolean>({ key: "skipBad", flag: "--skip-bad", description: "skip unreadable images (counted in the results) instead of stopping", owner: "run" }),
  option<"maxMemory", number>({
    key: "maxMemory", flag: "--max-memory <size>", description: "refuse a model or image that would need more memory (e.g. 4G, 512M, 50%; default 80% of RAM), before loading it",
    parse: (s) => parseMemory(s), owner: "run",
  }),
] as const;

/**
 * Flags of the CLI that stand for part of a library option (folded by src/cli/flags.ts:
 * --site/--sites-file → extraSites; --mean, --std, --resize, --crop → preprocessOverrides).
 */
export const CLI_FLAGS = [
  option<"site", string[]>({ key: "site", flag: "--site <name=pattern>", description: "add or override a site: canonical name = exporter tensor name or /regex/ (repeatable)", parse: collect, owner: "run", cliOnly: true }),
  option<"sitesFile", string>({ key: "sitesFile", flag: "--sites-file <path>", description: "JSON file {canonical: exporterNameOrRegex} of extra sites", owner: "run", cliOnly: true }),
  option<"mean", number[]>({ key: "mean", flag: "--mean <list>", description: "override normalisation mean (per channel)", parse: numberList("mean"), owner: "run", cliOnly: true }),
  option<"std", number[]>({ key: "std", flag: "--std <list>", description: "override normalisation std (per channel)", parse: numberList("std"), owner: "run", cliOnly: true }),
  option<"resize", number>({ key: "resize", flag: "--resize <n>", description: "resize the shorter side to n pixels", parse: positiveInt("resize"), owner: "run", cliOnly: true }),
  option<"crop", number>({ key: "crop", flag: "--crop <n>", description: "centre crop to n×n pixels", parse: positiveInt("crop"), owner: "run", cliOnly: true }),
] as const;

/** The CLI flag of an option key: `attentionWeighting` → `--attention-weighting`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
