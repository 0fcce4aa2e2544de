/**
 * Every analysis is a mergeable reducer (STYLE.md "For this project"):
 *   init(config) → state; update(state, input) → state; merge(a, b) → state; finalize(state) → result.
 * State is plain data: numbers, strings, arrays and Float64Array sums and counts, so shards and
 * resumed runs merge exactly and `src/state.ts` can serialise it bit-exactly.
 * `update` and `merge` may mutate and return their first argument.
 */
export interface Reducer<Config, State, Input, Result> {
  /** Stable id: the analysis id of the registry (src/pipelines/index.ts), e.g. "cka", "attention". */
  readonly id: string;
  init(config: Config): State;
  update(state: State, input: Input): State;
  merge(a: State, b: State): State;
  finalize(state: State): Result;
}
