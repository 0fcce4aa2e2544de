/** The element arrays a tensor can hold. */
export type FloatArray = Float32Array | Float64Array;

/**
 * A dense row-major tensor: a flat typed array with its shape, walked with indexed loops
 * (d3-style `{data, shape}`), never boxed arrays.
 */
export interface Tensor<A extends FloatArray = FloatArray> {
  data: A;
  shape: readonly number[];
}

/** Number of elements a shape holds. */
export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A tensor of the given shape over `data`; throws a RangeError when they disagree.
 * @example tensor(new Float32Array(6), [2, 3]).shape // [2, 3]
 */
export function tensor<A extends FloatArray>(data: A, shape: readonly number[]): Tensor<A> {
  if (size(shape) !== data.length) throw new RangeError(`invalid shape [${shape}] for ${data.length} elements`);
  return { data, shape: [...shape] };
}
