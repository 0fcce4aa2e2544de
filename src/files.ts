/**
 * Atomic file writes: a temporary file in the same folder, fsynced, renamed over the target, and
 * the folder fsynced, so a reader (or a kill) never sees a half-written file. Shared by the data
 * layer (.npy), the engine (state and checkpoints) and the output layer.
 */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { dirname, basename, join } from "node:path";

/**
 * Writes a file atomically: a temporary file in the same folder is written and fsynced, renamed
 * over `path`, and the folder fsynced, so a crash leaves the old or the new file, never a torn one.
 *
 * @example await writeFileAtomic("out/state.seelike", encodeState(state, { settingsDigest }))
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fail = (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === "ENOSPC" ? "no space left on device" : code === "EDQUOT" ? "disk quota exceeded" : code === "EROFS" ? "read-only file system" : (e as Error).message;
    throw new Error(`${path}: cannot write (${reason}${code && !reason.includes(code) ? `, ${code}` : ""}); the previous version of the file, if any, is unchanged`);
  };
  const fh = await open(tmp, "wx").catch(fail);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    fail(e);
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  // Persist the rename; some platforms cannot open or fsync a directory, which is not an error there.
  const d = await open(dir, "r").catch(() => undefined);
  if (d) {
    await d.sync().catch(() => undefined);
    await d.close();
  }
}
