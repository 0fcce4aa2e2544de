/**
 * Seeded uniform generator on [0, 1) (mulberry32): deterministic across platforms, so a recorded
 * seed reproduces every shuffle.
 * @example const u = uniform(42); u() // 0.6011037519201636
 */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A uniformly random permutation of 0..n−1 (Fisher–Yates) from a seed.
 * @example permutation(4, 1) // e.g. Uint32Array [2, 0, 3, 1]
 */
export function permutation(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid permutation size: ${n}`);
  const u = uniform(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * A permutation with no fixed point (Sattolo's algorithm), for controls that must break every
 * pairing.
 * @example derangement(4, 1) // a single 4-cycle
 */
export function derangement(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`invalid derangement size: ${n}`);
  const u = uniform(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * i);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
