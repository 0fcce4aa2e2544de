/**
 * Column statistics of row-major float64 matrices (float64 accumulation).
 */

/**
 * Column means and population standard deviations (ddof 0, as numpy's and jax's `std`) of an
 * n × d row-major matrix. Two passes, so the variance does not cancel.
 * @example columnMoments(new Float64Array([1, 2, 3, 6]), 2, 2) // mean [2, 4], std [1, 2]
 */
export function columnMoments(data: ArrayLike<number>, rows: number, cols: number): { mean: Float64Array; std: Float64Array } {
  if (data.length !== rows * cols) throw new RangeError(`invalid matrix: ${data.length} elements for [${rows}, ${cols}]`);
  if (rows < 1) throw new RangeError(`invalid rows: ${rows}`);
  const mean = new Float64Array(cols);
  const std = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += data[i * cols + j];
  for (let j = 0; j < cols; j++) mean[j] /= rows;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const d = data[i * cols + j] - mean[j];
      std[j] += d * d;
    }
  }
  for (let j = 0; j < cols; j++) std[j] = Math.sqrt(std[j] / rows);
  return { mean, std };
}
