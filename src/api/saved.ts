/**
 * What a run saves for `merge`: its settings record, driver states and the options that made it
 * (callbacks dropped, RegExp sites as "/source/flags"), so the same plan can be prepared again.
 */
import { UsageError } from "../errors.js";
import type { SettingsRecord } from "../engine/settings.js";
import type { Checkpoint } from "../engine/stream.js";
import type { RunOptions } from "../plan/types.js";

/** A finished run's state file: the engine's last checkpoint plus what merge needs to plan again. */
export interface RunState extends Checkpoint {
  settings: SettingsRecord;
  shard: { index: number; count: number } | null;
  models: string[];
  options: Omit<RunOptions, "onProgress" | "onWarning" | "onInfo" | "shouldStop">;
}

/** The options of a run as saved: data paths only, no callbacks, sites as strings. */
export function storableOptions(o: RunOptions): RunState["options"] {
  const { onProgress: _p, onWarning: _w, onInfo: _i, shouldStop: _s, ...rest } = o;
  if (typeof rest.data !== "string" || (rest.trainData !== undefined && typeof rest.trainData !== "string")) throw new UsageError("only runs over data paths can be saved for merging");
  const extra = rest.extraSites ? Object.fromEntries(Object.entries(rest.extraSites).map(([k, v]) => [k, v instanceof RegExp ? `/${v.source}/${v.flags}` : v])) : undefined;
  return { ...rest, extraSites: extra, checkpoint: undefined, resume: false };
}

/** Saved options back into RunOptions. */
export function restoreOptions(o: RunState["options"]): RunOptions {
  const extra = o.extraSites
    ? Object.fromEntries(Object.entries(o.extraSites).map(([k, v]) => {
        const m = typeof v === "string" ? /^\/(.*)\/([a-z]*)$/.exec(v) : null;
        return [k, m ? new RegExp(m[1], m[2]) : v];
      }))
    : undefined;
  return { ...o, extraSites: extra };
}
