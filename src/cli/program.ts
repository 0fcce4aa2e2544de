/**
 * The commander program: every command's arguments and flags, parsed and handed to the library
 * API; what comes back is written to stdout. The run flags are generated from the options table
 * (src/plan/options.ts and each analysis' options in src/pipelines/).
 */
import { Command, Option, InvalidArgumentError } from "commander";
import { VERSION } from "../version.js";
import { ALL_OPTIONS } from "../plan/types.js";
import type { OptionSpec } from "../options.js";
import { positiveInt, nonNegativeInt } from "../options.js";
import { estimators } from "../../analyses/cka.js";
import { tokenModes } from "../../analyses/vocabulary.js";
import { runOptionsFromFlags, extraSites } from "./flags.js";
import { ckaText, runSummary } from "./text.js";
import { DEMO_BATCH } from "../api/demo.js";
import type { CliIO } from "./index.js";

/** A table parser as a commander argument parser: its error becomes commander's "invalid argument". */
function argParser<T>(parse: (raw: string, previous: T | undefined) => T) {
  return (raw: string, previous: T | undefined): T => {
    try {
      return parse(raw, previous);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function shown(v: unknown): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** The commander Option of one table entry (no commander default: the table applies defaults, so "given" stays visible). */
export function cliOption(spec: OptionSpec<string, any>): Option {
  const hasDefault = spec.default !== undefined && !(Array.isArray(spec.default) && spec.default.length === 0);
  const o = new Option(spec.flag!, spec.description + (hasDefault ? ` (default: ${shown(spec.default)})` : ""));
  if (spec.choices) o.choices(spec.choices as string[]);
  else if (spec.parse) o.argParser(argParser(spec.parse));
  return o;
}

/** The run flags shared by analyze, compare (all but --data, which each command requires). */
function addRunOptions(cmd: Command): Command {
  for (const spec of ALL_OPTIONS) if (spec.flag && spec.key !== "data") cmd.addOption(cliOption(spec));
  return cmd.option("--quiet", "no progress output");
}

function positive(name: string) {
  return argParser(positiveInt(name));
}

/** The program: every command, writing through `io` (whose stopRequested a run checks between batches). */
export function buildProgram(io: CliIO): Command {
  const program = new Command();
  program
    .name("seelike")
    .description("Do these two networks see alike? Layer similarity (CKA), attention distance, skip ratios,\nlocalisation and linear probes for vision models exported to ONNX (Raghu et al. 2021).")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  for (const add of [inspectCommand, runCommands, reportCommands, ckaCommand, demoCommand]) add(program, io);
  return program;
}

function inspectCommand(program: Command, io: CliIO): void {
  program
    .command("inspect")
    .description("show what seelike finds in a model: family, input, patch size, grid, blocks, attention and residual sites")
    .argument("<model>", "an .onnx file")
    .option("--json", "print one JSON object")
    .option("--site <name=pattern>", "add or override a site (repeatable)", (v: string, p: string[] = []) => [...p, v], [])
    .option("--sites-file <path>", "JSON file of extra sites")
    .action(async (model: string, opts) => {
      const api = await import("../api/index.js");
      const info = await api.inspect(model, { extraSites: await extraSites(opts.site, opts.sitesFile) });
      io.out(opts.json ? JSON.stringify(info, null, 2) + "\n" : api.formatInspect(info));
    });
}

function runCommands(program: Command, io: CliIO): void {
  const run = async (models: string[], opts: Record<string, unknown> & { out: string; quiet?: boolean }) => {
    const api = await import("../api/index.js");
    const options = await runOptionsFromFlags(opts);
    // What the run settled (the batch and its memory estimate) is printed as its first batch is
    // reported, before any progress: a run that fails before then prints only its one error line.
    const pending: string[] = [];
    const flush = () => {
      for (const m of pending.splice(0)) io.err(`seelike: ${m}\n`);
    };
    const bar = io.progress(opts.quiet);
    if (!opts.quiet) options.onInfo = (m) => void pending.push(m);
    const onProgress = Object.assign((e: Parameters<NonNullable<typeof bar>>[0]) => {
      flush();
      bar?.(e);
    }, { end: () => bar?.end() });
    const r = await api.runToFiles(models, options, opts.out, { onProgress, shouldStop: io.stopRequested });
    flush();
    io.warnings(r.results.warnings, opts.quiet);
    io.out(runSummary(r));
  };

  addRunOptions(
    program
      .command("analyze")
      .description("run every analysis that applies to one model and write a report")
      .argument("<model>", "an .onnx file")
      .requiredOption("--data <path>", "image folder, IDX file, .npy array or CSV manifest")
      .requiredOption("--out <file>", "report path (.html); results.json, CSVs and state go next to it"),
  ).action(async (model: string, opts) => run([model], opts));

  addRunOptions(
    program
      .command("compare")
      .description("compare two models (and optional variants) on the same images and write a report")
      .argument("<a>", "first model (.onnx)")
      .argument("<b>", "second model (.onnx)")
      .argument("[more...]", "further checkpoints compared against <a> (data-scale panel)")
      .requiredOption("--data <path>", "image folder, IDX file, .npy array or CSV manifest")
      .requiredOption("--out <file>", "report path (.html); results.json, CSVs and state go next to it"),
  ).action(async (a: string, b: string, more: string[], opts) => run([a, b, ...more], opts));
}

function reportCommands(program: Command, io: CliIO): void {
  program
    .command("report")
    .description("re-render a report from results.json without recomputing")
    .argument("<results>", "a results.json written by analyze/compare/merge")
    .requiredOption("--out <file>", "report path (.html)")
    .option("--figures <dir>", "also write every figure as SVG and PNG into this folder")
    .action(async (results: string, opts) => {
      const api = await import("../api/index.js");
      io.out(`report: ${await api.reportToFile(results, opts.out, { figures: opts.figures })}\n`);
      if (opts.figures) io.out(`figures: ${opts.figures}\n`);
    });

  program
    .command("merge")
    .description("merge the output folders of shard runs into the results and report of one run")
    .argument("<dirs...>", "output folders of `--shard i/n` runs")
    .requiredOption("--out <file>", "report path (.html)")
    .action(async (dirs: string[], opts) => {
      const api = await import("../api/index.js");
      io.out(runSummary(await api.mergeToFiles(dirs, opts.out)));
    });
}

function ckaCommand(program: Command, io: CliIO): void {
  program
    .command("cka")
    .description("linear CKA between activations saved as .npy (example axis first), or two folders of per-site .npy files")
    .argument("<x>", "X.npy or a folder of site .npy files")
    .argument("<y>", "Y.npy or a folder of site .npy files")
    .addOption(new Option("--estimator <id>", "CKA estimator").choices(estimators as string[]).default("minibatch-unbiased"))
    .option("--batch <n>", "minibatch size n for the unbiased estimator (default: all examples)", positive("batch"))
    .addOption(new Option("--tokens <mode>", "flattening of [N,T,D] or [N,C,H,W] arrays").choices(tokenModes as string[]).default("all"))
    .option("--prefix-tokens <n>", "prefix (CLS) tokens of [N,T,D] arrays", argParser(nonNegativeInt("prefix-tokens")), 1)
    .option("--threads <n>", "onnxruntime intra-op threads", positive("threads"))
    .option("--out <file>", "for folders: where to write the matrix (.json, .csv or .npy)")
    .option("--json", "print a JSON object")
    .action(async (x: string, y: string, opts) => {
      const api = await import("../api/index.js");
      const r = await api.ckaOfArrays(x, y, opts);
      io.out(await ckaText(r, opts));
    });
}

function demoCommand(program: Command, io: CliIO): void {
  program
    .command("demo")
    .description("compare the shipped vit-tiny and resnet-tiny (and the zoo's variants) on the shipped probe set")
    .option("--out <file>", "report path", "reports/demo.html")
    .option("--limit <n>", "number of probe images (default: all 2,000)", positive("limit"))
    .option("--batch <n>", `batch size (default: ${DEMO_BATCH})`, positive("batch"))
    .option("--repeats <n>", "CKA reshuffles (default: 1)", positive("repeats"))
    .option("--threads <n>", "onnxruntime intra-op threads", positive("threads"))
    .option("--figures <dir>", "also write every figure as SVG and PNG into this folder")
    .option("--quiet", "no progress output")
    .action(async (opts) => {
      const api = await import("../api/index.js");
      const t0 = performance.now();
      const { models, options } = api.demoOptions({ limit: opts.limit, batch: opts.batch, repeats: opts.repeats, threads: opts.threads });
      const r = await api.runToFiles(models, { ...options, ...(opts.figures ? { figures: opts.figures } : {}) }, opts.out, { title: api.DEMO_TITLE, onProgress: io.progress(opts.quiet), shouldStop: io.stopRequested });
      io.warnings(r.results.warnings, opts.quiet);
      io.out(runSummary(r) + `time: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}
