/**
 * The registry: every analysis a run can do, in the order they finish (an analysis may read
 * the results of those before it: the ablation reads the accuracy). Adding an analysis is its
 * reducer under analyses/, its pipeline file here, and one line below.
 */
import type { AnalysisDefinition } from "./contract.js";
import type { OptionSpec } from "../options.js";
import { cka } from "./cka.js";
import { attention } from "./attention.js";
import { prefixMass } from "./prefix-mass.js";
import { skip } from "./skip.js";
import { localisation } from "./localisation.js";
import { probes } from "./probes.js";
import { embeddings } from "./embeddings.js";
import { collapse } from "./collapse.js";
import { accuracy } from "./accuracy.js";
import { ablation } from "./ablation.js";
import { rbfCka } from "./rbf-cka.js";

/**
 * Every analysis definition, in finishing order.
 * @example REGISTRY.map((d) => d.id) // ["cka", "attention", "skip", …]
 */
export const REGISTRY = [cka, rbfCka, attention, prefixMass, skip, localisation, probes, embeddings, collapse, accuracy, ablation] as const;

type Registered = (typeof REGISTRY)[number];

/** One analysis id: the `--analyses` value, the results key, the report section, the files' prefix. */
export type AnalysisId = Registered["id"];

/**
 * Every analysis id, in registry order.
 * @example ANALYSES.includes("cka") // true
 */
export const ANALYSES: readonly AnalysisId[] = REGISTRY.map((d) => d.id);

/**
 * The analyses run when none are named.
 * @example await compare("a.onnx", "b.onnx", { data: "images/", analyses: DEFAULT_ANALYSES.filter((a) => a !== "probes") })
 */
export const DEFAULT_ANALYSES: readonly AnalysisId[] = REGISTRY.filter((d) => d.default).map((d) => d.id);

/** The definition of an analysis id. */
export function analysis(id: string): AnalysisDefinition<any, any, any, any> {
  const d = REGISTRY.find((x) => x.id === id);
  if (!d) throw new RangeError(`invalid analysis: ${id} (choose from ${ANALYSES.join(", ")})`);
  return d as AnalysisDefinition<any, any, any, any>;
}

type SectionOf<D> = D extends AnalysisDefinition<any, any, infer S, any> ? S : never;
type ExtraOf<D> = D extends AnalysisDefinition<any, any, any, infer E> ? E : never;
type Union2Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The results sections of every analysis, keyed by id (absent when the analysis did not run or found nothing). */
export type Sections = { [D in Registered as D["id"]]?: SectionOf<D> } & Partial<Union2Intersection<ExtraOf<Registered>>>;

/** Every analysis' options, in registry order. */
export const ANALYSIS_OPTIONS = REGISTRY.flatMap((d) => d.options as readonly OptionSpec<string, any>[]);

/** The option specs of the analyses, as a union type (for the generated RunOptions). */
export type AnalysisOptionSpec = Registered["options"][number];
