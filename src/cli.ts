/**
 * The command line: parse with commander, call the library API, write files, map errors to
 * exit codes (0 success, 1 failure, 2 bad input or bad usage). Nothing here computes.
 */
import { Command, Option, InvalidArgumentError, CommanderError } from "commander";
import { InputError, UsageError } from "./errors.js";
import { VERSION } from "./version.js";

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`invalid ${name}: ${value}`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`invalid ${name}: ${value}`);
    return n;
  };
}

function numberList(name: string) {
  return (value: string): number[] => {
    const parts = value.split(",").map((s) => Number(s.trim()));
    if (parts.some((x) => !Number.isFinite(x))) throw new InvalidArgumentError(`invalid ${name}: ${value}`);
    return parts;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Options shared by `analyze`, `compare` and `demo`. */
function addRunOptions(cmd: Command): Command {
  return cmd
    .option("--labels <path>", "labels file for the data (IDX or .npy) when they are not in the data itself")
    .option("--train-data <path>", "training split for the linear probes (same formats as --data)")
    .option("--train-labels <path>", "labels for --train-data")
    .option("--analyses <list>", "comma-separated subset: cka,attention,skip,localisation,probes,embeddings,collapse,ablation")
    .addOption(new Option("--estimator <id>", "CKA estimator").choices(["minibatch-unbiased", "full-biased", "full-debiased"]).default("minibatch-unbiased"))
    .addOption(new Option("--tokens <mode>", "how a site's activation is flattened per example").choices(["all", "cls", "spatial", "gap"]).default("all"))
    .addOption(new Option("--site-set <set>", "CKA sites: one per residual sum, or every named intermediate").choices(["blocks", "all"]).default("blocks"))
    .option("--site <name=pattern>", "add or override a site: canonical name = exporter tensor name or /regex/ (repeatable)", collect, [])
    .option("--sites-file <path>", "JSON file {canonical: exporterNameOrRegex} of extra sites")
    .option("--limit <n>", "number of images (default: all)", positiveInt("limit"))
    .option("--seed <n>", "seed for sampling and reshuffles", nonNegativeInt("seed"), 0)
    .option("--batch <n>", "batch size (the CKA minibatch n; ≥ 4 for the unbiased estimator)", positiveInt("batch"), 64)
    .option("--repeats <n>", "CKA reshuffles averaged (Raghu et al. use 20)", positiveInt("repeats"), 1)
    .addOption(new Option("--attention-weighting <w>", "attention distance weighting").choices(["renormalised", "raw"]).default("renormalised"))
    .option("--probe-shots <list>", "k-shot settings for the linear probes, plus 'full'", "1,5,10,25,full")
    .option("--ablate <blocks>", "inference-ablation: remove both residuals of these blocks (comma-separated, 0-based)")
    .addOption(new Option("--preprocess <preset>", "preprocessing preset (default: the model card next to the model, else imagenet)").choices(["imagenet", "inception", "none", "card"]))
    .option("--mean <list>", "override normalisation mean (per channel)", numberList("mean"))
    .option("--std <list>", "override normalisation std (per channel)", numberList("std"))
    .option("--resize <n>", "resize the shorter side to n pixels", positiveInt("resize"))
    .option("--crop <n>", "centre crop to n×n pixels", positiveInt("crop"))
    .option("--threads <n>", "onnxruntime intra-op threads", positiveInt("threads"))
    .addOption(new Option("--device <device>", "execution provider").choices(["cpu", "cuda"]).default("cpu"))
    .option("--shard <i/n>", "process shard i of n (0-based) and write its state for `seelike merge`")
    .option("--resume", "resume from the checkpoint next to --out")
    .option("--checkpoint-every <k>", "save reducer state every k batches", positiveInt("checkpoint-every"), 10)
    .option("--skip-bad", "skip unreadable images (counted in the results) instead of stopping")
    .option("--max-memory <size>", "refuse a model or image that would need more memory (e.g. 4G, 512M, 50%; default 80% of RAM), before loading it")
    .option("--quiet", "no progress output");
}

function buildProgram(io: { out: (s: string) => void; err: (s: string) => void }): Command {
  const program = new Command();
  program
    .name("seelike")
    .description("Do these two networks see alike? Layer similarity (CKA), attention distance, skip ratios,\nlocalisation and linear probes for vision models exported to ONNX (Raghu et al. 2021).")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program
    .command("inspect")
    .description("show what seelike finds in a model: family, input, patch size, grid, blocks, attention and residual sites")
    .argument("<model>", "an .onnx file")
    .option("--json", "print one JSON object")
    .option("--site <name=pattern>", "add or override a site (repeatable)", collect, [])
    .option("--sites-file <path>", "JSON file of extra sites")
    .action(async (model: string, opts) => {
      const api = await import("./api.js");
      const info = await api.inspect(model, { extraSites: await api.extraSites(opts.site, opts.sitesFile) });
      io.out(opts.json ? JSON.stringify(info, null, 2) + "\n" : api.formatInspect(info));
    });

  addRunOptions(
    program
      .command("analyze")
      .description("run every analysis that applies to one model and write a report")
      .argument("<model>", "an .onnx file")
      .requiredOption("--data <path>", "image folder, IDX file, .npy array or CSV manifest")
      .requiredOption("--out <file>", "report path (.html); results.json, CSVs and state go next to it"),
  ).action(async (model: string, opts) => {
    const api = await import("./api.js");
    const written = await api.runFromCli([model], opts, io);
    io.out(written);
  });

  addRunOptions(
    program
      .command("compare")
      .description("compare two models (and optional variants) on the same images and write a report")
      .argument("<a>", "first model (.onnx)")
      .argument("<b>", "second model (.onnx)")
      .argument("[more...]", "further checkpoints compared against <a> (data-scale panel)")
      .requiredOption("--data <path>", "image folder, IDX file, .npy array or CSV manifest")
      .requiredOption("--out <file>", "report path (.html); results.json, CSVs and state go next to it"),
  ).action(async (a: string, b: string, more: string[], opts) => {
    const api = await import("./api.js");
    const written = await api.runFromCli([a, b, ...more], opts, io);
    io.out(written);
  });

  program
    .command("report")
    .description("re-render a report from results.json without recomputing")
    .argument("<results>", "a results.json written by analyze/compare/merge")
    .requiredOption("--out <file>", "report path (.html)")
    .action(async (results: string, opts) => {
      const api = await import("./api.js");
      io.out(await api.reportFromFile(results, opts.out));
    });

  program
    .command("merge")
    .description("merge the output folders of shard runs into the results and report of one run")
    .argument("<dirs...>", "output folders of `--shard i/n` runs")
    .requiredOption("--out <file>", "report path (.html)")
    .action(async (dirs: string[], opts) => {
      const api = await import("./api.js");
      io.out(await api.mergeFromCli(dirs, opts.out, io));
    });

  program
    .command("cka")
    .description("linear CKA between activations saved as .npy (example axis first), or two folders of per-site .npy files")
    .argument("<x>", "X.npy or a folder of site .npy files")
    .argument("<y>", "Y.npy or a folder of site .npy files")
    .addOption(new Option("--estimator <id>", "CKA estimator").choices(["minibatch-unbiased", "full-biased", "full-debiased"]).default("minibatch-unbiased"))
    .option("--batch <n>", "minibatch size n for the unbiased estimator (default: all examples)", positiveInt("batch"))
    .addOption(new Option("--tokens <mode>", "flattening of [N,T,D] or [N,C,H,W] arrays").choices(["all", "cls", "spatial", "gap"]).default("all"))
    .option("--prefix-tokens <n>", "prefix (CLS) tokens of [N,T,D] arrays", nonNegativeInt("prefix-tokens"), 1)
    .option("--out <file>", "for folders: where to write the matrix (.json, .csv or .npy)")
    .option("--json", "print a JSON object")
    .action(async (x: string, y: string, opts) => {
      const api = await import("./api.js");
      io.out(await api.ckaFromCli(x, y, opts));
    });

  program
    .command("demo")
    .description("compare the shipped vit-tiny and resnet-tiny (and the zoo's variants) on the shipped probe set")
    .option("--out <file>", "report path", "reports/demo.html")
    .option("--limit <n>", "number of probe images (default: all 2,000)", positiveInt("limit"))
    .option("--batch <n>", "batch size", positiveInt("batch"), 100)
    .option("--repeats <n>", "CKA reshuffles", positiveInt("repeats"), 1)
    .option("--threads <n>", "onnxruntime intra-op threads", positiveInt("threads"))
    .option("--quiet", "no progress output")
    .action(async (opts) => {
      const api = await import("./api.js");
      io.out(await api.demoFromCli(opts, io));
    });

  return program;
}

/** Runs the CLI on `argv` (as in process.argv) and returns the exit code. */
export async function main(
  argv: string[],
  io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) },
): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; parse errors are bad usage (commander already printed them).
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof InputError || e instanceof UsageError || e instanceof RangeError) {
      io.err(`seelike: ${oneLine((e as Error).message)}\n`);
      return 2;
    }
    const err = e as Error;
    io.err(`seelike: ${oneLine(err?.message ?? String(e))}\n`);
    if (process.env.SEELIKE_DEBUG) io.err(`${err?.stack ?? ""}\n`);
    return 1;
  }
}

function oneLine(s: string): string {
  // Names from models and files reach the terminal: control characters (escape sequences) are shown as \xNN.
  return s.replace(/\s*\n\s*/g, " ").trim().replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
