#!/usr/bin/env node
// Prints the Findings of a run's results.json: for each claim of Raghu et al. 2021 and the ViT
// paper, whether it holds here, with the number behind it. The same list opens every report;
// this is a thin caller of the library's `findings` (reports/findings.ts).
//
//   npx seelike demo && node examples/zoo-findings.mjs reports/demo/results.json
import { readFileSync } from "node:fs";
import { reportData, findings, findingsText } from "../dist/src/index.js";

const file = process.argv[2] ?? "reports/demo/results.json";
const results = JSON.parse(readFileSync(file, "utf8"));
process.stdout.write(`findings from ${file} (${results.settings.data.images} images):\n` + findingsText(findings(reportData(results))));
