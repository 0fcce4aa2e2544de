/**
 * Runtime facts about a model's sites: the shape of every site tensor from one probe run of the
 * model, which settle what the graph leaves symbolic (the heads of a [B·H, T, T] map).
 */
import type { ModelSites } from "../onnx/sites.js";
import type { TensorLayout as Layout } from "../../analyses/vocabulary.js";

/** Shapes of a model's site tensors at batch `probeBatch`, and its image input. */
export interface ModelGeometry {
  sites: ModelSites;
  /** exporter tensor name → runtime shape at batch `probeBatch` */
  shapes: Map<string, number[]>;
  probeBatch: number;
  /** The image input and its preprocessed [C, H, W]; the model's default-domain opset. */
  input?: { name: string; shape: [number, number, number] };
  opset?: number;
}

/** [B,T,D] → BTD, [B,C,H,W] → BCHW, [B,D] → BD. */
export function layoutOf(shape: readonly number[] | undefined): Layout {
  if (!shape) return "other";
  if (shape.length === 3) return "BTD";
  if (shape.length === 4) return "BCHW";
  if (shape.length === 2) return "BD";
  return "other";
}

/** Heads of an attention tensor from its runtime shape at the probe batch. */
export function headsOf(shape: number[], probeBatch: number): number {
  return shape.length === 4 ? shape[1] : shape[0] / probeBatch;
}

/** Elements per image of a tensor from its runtime shape at the probe batch (a leading axis of image × heads or windows included). */
export function perImage(shape: readonly number[], probeBatch: number): number {
  return shape.reduce((a, d) => a * d, 1) / probeBatch;
}
