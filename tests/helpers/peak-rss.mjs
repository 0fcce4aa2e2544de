// Runs the seelike CLI in this process, then prints its peak resident set (VmHWM, bytes) as
// the last stderr line: tests/memory-estimate.test.ts compares the run's memory estimate with it.
import { readFileSync } from "node:fs";
import { main } from "../../dist/src/cli/index.js";

const code = await main(["node", "seelike", ...process.argv.slice(2)]);
const kb = Number(/VmHWM:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN);
process.stderr.write(`\nseelike-peak-rss: ${kb * 1024}\n`);
process.exitCode = code;
