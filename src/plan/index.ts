/** Run planning: the options table, preparing a plan, running it, finishing its results. */
export { prepare, applicableDrivers } from "./prepare.js";
export { execute, finish, mergeStates } from "./finish.js";
export { modelInputSize, modelLabels } from "./models.js";
export { ALL_OPTIONS, mainPass, resolveOptions, type Plan, type Results, type RunOptions, type ResolvedOptions, type ModelSummary, type AnalysisId } from "./types.js";
