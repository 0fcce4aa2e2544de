/**
 * seelike's public API: this file is nothing but explicit, grouped re-exports, so "public"
 * means "re-exported here" (d3 style). Each export is documented where it is declared.
 *
 *   import { compare, figures, linearCKA } from "seelike";
 */

// Runs: models + data → Results, and the HTML report of them.
export { inspect, formatInspect, analyze, compare, runModels, report, merge, demoInputs, runToFiles, mergeToFiles, reportToFile, ckaOfArrays } from "./api/index.js";
export type { Results, RunOptions, AnalysisId, ModelSummary, RunFiles, FileRunOptions, ArrayCKA, ArrayCKAOptions } from "./api/index.js";
export { ANALYSES, DEFAULT_ANALYSES, REGISTRY } from "./pipelines/index.js";
export { ALL_OPTIONS } from "./plan/types.js";
export type { AnalysisDefinition, DriverKey } from "./pipelines/contract.js";
export type { OptionSpec } from "./options.js";
export type { InspectResult } from "./onnx/inspect.js";

// Figures for notebooks (SVG/HTML markup) and tslab display.
export * as figures from "./api/figures.js";
export { display } from "./api/figures.js";
export { reportData, type ReportDataOptions } from "./output/report-data.js";
export { findings, findingsText, type Finding, type Verdict } from "../reports/findings.js";
export { writeFigures } from "./api/export.js";
export type { ReportData } from "../reports/types.js";

// Linear CKA (METHODS.md §1).
export { linearCKA, linearCKAOfGrams, ckaReducer, blockwiseCKA, estimators } from "../analyses/cka.js";
export type { CKAValue, LinearCKAOptions, CKAConfig, CKAState, CKAGrams, CKAFeatures, CKAResult, CKAMatrix, BlockwiseCKA, Estimator } from "../analyses/cka.js";
export { gram } from "./numeric/gram.js";
export { ckaSanity } from "../analyses/sanity.js";
export type { SanityReport } from "../analyses/sanity.js";
export { flatten, tokenModes } from "../analyses/flatten.js";
export type { TokenMode, Layout } from "../analyses/flatten.js";

// Mean attention distance (§2), skip ratios (§3), localisation (§5), probes (§6).
export { attentionDistance, attentionDistanceReducer, uniformAttentionDistance } from "../analyses/attention-distance.js";
export type { AttentionDistanceOptions, AttentionDistanceOfLayer, AttentionDistanceResult, AttentionWeighting } from "../analyses/attention-distance.js";
export { skipRatio, skipRatioReducer } from "../analyses/skip-ratio.js";
export type { SkipRatioEntry, SkipRatioResult, SkipRatioConvention } from "../analyses/skip-ratio.js";
export { localisationReducer } from "../analyses/localisation.js";
export type { LocalisationResult } from "../analyses/localisation.js";
export { linearProbe, probeReducer } from "../analyses/probes.js";
export type { ProbeConfig, ProbeResult, ProbeBlockResult } from "../analyses/probes.js";

// ViT paper Fig. 7 and attention collapse (§7).
export { patchEmbeddingComponents, positionEmbeddingSimilarity } from "../analyses/embeddings.js";
export type { PatchEmbeddingComponents, PositionEmbeddingSimilarity } from "../analyses/embeddings.js";
export { collapseReducer } from "../analyses/collapse.js";
export type { CollapseResult } from "../analyses/collapse.js";
export type { Reducer } from "../analyses/reducer.js";

// Data: images, IDX, CSV and .npy in; .npy out.
export { openData } from "./data/open.js";
export type { OpenDataOptions } from "./data/open.js";
export type { DataSource } from "./data/types.js";
export { readNpy, writeNpy, encodeNpy, decodeNpy } from "./data/npy.js";
export type { NpyArray, NpyData, NpyDtype } from "./data/npy.js";

// Shared types and errors.
export { tensor } from "./tensor.js";
export type { Tensor, FloatArray } from "./tensor.js";
export { InputError, NothingToRunError, UsageError } from "./errors.js";
