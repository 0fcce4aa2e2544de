/**
 * The batch loader: decodes and preprocesses samples with a small bound on concurrency, one
 * batch ahead of the consumer, and assembles NCHW float32 batches.
 */
import { InputError } from "../errors.js";
import { preprocess, preprocessSize, type PreprocessOptions } from "./preprocess.js";
import type { DataSource } from "./types.js";

/** A sample that could not be read and was skipped (`skipBad`). */
export interface SkippedSample {
  index: number;
  id: string;
  file: string;
  problem: string;
}

/** One batch: the model input and which samples it holds. */
export interface Batch {
  /** Sample ids, in batch order. */
  ids: string[];
  /** Sample indices into the source. */
  indices: number[];
  labels?: Int32Array;
  /** NCHW float32 model input. */
  input: Float32Array;
  shape: [number, number, number, number];
  /** Samples skipped while filling this batch (only with `skipBad`). */
  skipped: SkippedSample[];
}

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Sample indices in the order to load (from sampleIndices / shard). */
  indices: ArrayLike<number>;
  batchSize: number;
  preprocess: PreprocessOptions;
  /**
   * Skip samples that cannot be read (recorded in each batch's `skipped` and in `skipped` here)
   * instead of throwing their InputError. Batches are refilled from the following samples, so
   * all but the last stay full.
   */
  skipBad?: boolean;
  /** Collects every skipped sample across batches (also those after the last full or partial batch). */
  skipped?: SkippedSample[];
  /** Decodes in flight at once (default 4). */
  concurrency?: number;
}

type Loaded = { ok: true; data: Float32Array; shape: [number, number, number] } | { ok: false; error: unknown };

/**
 * Loads batches of preprocessed samples. Decoding runs up to `concurrency` samples at a time
 * and continues one batch ahead while the consumer works on the current batch. An unreadable
 * sample throws InputError(file, problem) unless `skipBad`. Every image must preprocess to the
 * same size (fix it with resize/crop), else an InputError names the odd file.
 *
 * One generator on purpose: the read-ahead queue, the skip accounting and the batch assembly
 * share the cursor state, and splitting them would hand that state between functions.
 *
 * @example for await (const b of batches(src, { indices: sampleIndices(src.size), batchSize: 64, preprocess: opts })) run(b.input, b.shape)
 */
export async function* batches(source: DataSource, options: BatchOptions): AsyncGenerator<Batch> {
  const { indices, batchSize, preprocess: opts, skipBad = false, concurrency = 4 } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`invalid batch size: ${batchSize}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`invalid concurrency: ${concurrency}`);
  const total = indices.length;
  const lookahead = batchSize + concurrency;

  // A counting semaphore bounding decodes in flight.
  let free = concurrency;
  const waiting: (() => void)[] = [];
  const acquire = () => (free > 0 ? (free--, Promise.resolve()) : new Promise<void>((r) => waiting.push(r)));
  const release = () => {
    const w = waiting.shift();
    if (w) w();
    else free++;
  };

  const load = async (index: number): Promise<Loaded> => {
    await acquire();
    try {
      const image = await source.readOne(index);
      const { data, shape } = preprocess(image, opts);
      return { ok: true, data, shape };
    } catch (error) {
      return { ok: false, error };
    } finally {
      release();
    }
  };

  const queue: { index: number; result: Promise<Loaded> }[] = [];
  let started = 0;
  const fill = () => {
    while (started < total && queue.length < lookahead) {
      const index = indices[started++];
      queue.push({ index, result: load(index) });
    }
  };

  let size = preprocessSize(opts);
  const channels = opts.channels;
  fill();
  while (queue.length > 0) {
    const ids: string[] = [];
    const taken: number[] = [];
    const parts: Float32Array[] = [];
    const skipped: SkippedSample[] = [];
    while (taken.length < batchSize && queue.length > 0) {
      const { index, result } = queue.shift()!;
      fill();
      const r = await result;
      if (!r.ok) {
        const problem = r.error instanceof InputError ? r.error.problem : r.error instanceof Error ? r.error.message : String(r.error);
        const file = r.error instanceof InputError ? r.error.file : source.file(index);
        if (!skipBad) throw r.error instanceof InputError ? r.error : new InputError(file, problem);
        const s = { index, id: source.ids[index], file, problem };
        skipped.push(s);
        options.skipped?.push(s);
        continue;
      }
      const [, h, w] = r.shape;
      size ??= [h, w];
      if (h !== size[0] || w !== size[1]) {
        const problem = `preprocesses to ${h}×${w}, unlike the ${size[0]}×${size[1]} of earlier images (set a resize and crop)`;
        if (!skipBad) throw new InputError(source.file(index), problem);
        const s = { index, id: source.ids[index], file: source.file(index), problem };
        skipped.push(s);
        options.skipped?.push(s);
        continue;
      }
      ids.push(source.ids[index]);
      taken.push(index);
      parts.push(r.data);
    }
    if (taken.length === 0) {
      if (skipped.length > 0 && queue.length === 0) return;
      continue;
    }
    const [h, w] = size!;
    const per = channels * h * w;
    const input = new Float32Array(taken.length * per);
    parts.forEach((p, k) => input.set(p, k * per));
    const labels = source.labels ? Int32Array.from(taken, (i) => source.labels![i]) : undefined;
    fill();
    yield { ids, indices: taken, labels, input, shape: [taken.length, channels, h, w], skipped };
  }
}
