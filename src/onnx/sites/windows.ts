/**
 * Windowed attention geometry (Swin's shifted windows, MaxViT's block and grid attention),
 * found by tracing token positions through the graph rather than by matching one exporter's
 * op pattern: every element of the spatial token tensor the attention partitions is labelled
 * with its grid cell, the labels are carried through the data-movement ops (Reshape,
 * Transpose, Slice/Concat of a cyclic roll, Pad, Split, Gather) and the per-token ops
 * (LayerNorm, Linear, elementwise), and the score product q·kᵀ pairs a query label with a key
 * label. At the Softmax every element of the map then says which image cell attends to which.
 * The labels are fitted to a window tiling (contiguous windows, possibly cyclically shifted)
 * or a dilated grid, and every element is checked against the fit, so the compact geometry
 * recorded in the sites is exact for the traced export, or absent with a note.
 */
import type { Ctx } from "./types.js";
import { branchNodes } from "./walk.js";

/** Geometry of one windowed attention map (batch-1 layout and where each token sits). */
export interface WindowGeometry {
  /** "window": contiguous wh×ww windows (Swin, MaxViT block attention); "grid": a dilated grid spanning the image (MaxViT grid attention); "global": one window holding every token. */
  kind: "window" | "grid" | "global";
  /** Token grid of the stream the attention partitions, and its stride in input pixels. */
  grid: [number, number];
  stride: number;
  /** The grid padded to whole windows (= grid without padding). */
  padded: [number, number];
  /** Tokens of a window as rows × cols, their spacing in grid cells (1 = contiguous). */
  window: [number, number];
  dilation: [number, number];
  /** Windows as rows × cols (row-major in the map) and the cell step from one window to the next. */
  windowGrid: [number, number];
  windowStep: [number, number];
  /** Cell of window 0's token 0: the cyclic shift (Swin's shifted windows roll the grid by −shift). */
  shift: [number, number];
  heads: number;
  windows: number;
  /** The map's shape at batch 1 (leading dim: windows merged into the batch, or the batch) and which of its leading axes hold heads. */
  mapShape: number[];
  headAxes: number[];
}

type Ids = Int32Array;
interface Tracked {
  shape: number[];
  q: Ids;
  /** Key labels, once a score product has paired queries with keys. */
  k?: Ids;
}

const MOVE = new Set(["Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Flatten", "Dropout", "Cast"]);
const ROLL = new Set(["Slice", "Concat", "Pad", "Identity", "Cast", "Dropout"]);
const PER_TOKEN_UNARY = new Set(["Sqrt", "Erf", "Relu", "Gelu", "Tanh", "Sigmoid", "Neg", "Reciprocal", "Exp", "Softmax", "LayerNormalization", "Identity", "Dropout", "Cast", "HardSwish", "Abs"]);
const ELEMENTWISE = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Where"]);

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function strides(s: readonly number[]): number[] {
  const st = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1] * s[i + 1];
  return st;
}

/** out[e] = x at the source offset that `step` (per output axis) advances to: a strided view read row-major into `out`'s shape. */
function strided(x: Ids, out: readonly number[], step: readonly number[]): Ids {
  const n = size(out);
  const res = new Int32Array(n);
  const idx = new Array<number>(out.length).fill(0);
  let src = 0;
  for (let e = 0; e < n; e++) {
    res[e] = x[src];
    for (let a = out.length - 1; a >= 0; a--) {
      idx[a]++;
      src += step[a];
      if (idx[a] < out[a]) break;
      src -= step[a] * idx[a];
      idx[a] = 0;
    }
  }
  return res;
}

/** out[idx] = x[idx'] where idx' reads index 0 on axes where the sizes differ (broadcast or keepdims reduce), right-aligned. */
function project(x: Ids, xs: readonly number[], out: readonly number[]): Ids {
  if (xs.length === out.length && xs.every((d, i) => d === out[i])) return x;
  const off = out.length - xs.length;
  const xst = strides(xs);
  return strided(x, out, out.map((d, a) => (a < off || xs[a - off] !== d ? 0 : xst[a - off])));
}

function transpose(x: Ids, s: readonly number[], perm: readonly number[]): Ids {
  const st = strides(s);
  return strided(x, perm.map((p) => s[p]), perm.map((p) => st[p]));
}

/** Elements of x along `axis` picked by `pick(i)` (−1 = padding) into an output of `count` along it. */
function along(x: Ids, s: readonly number[], axis: number, count: number, pick: (i: number) => number): Ids {
  const outer = size(s.slice(0, axis));
  const inner = size(s.slice(axis + 1));
  const res = new Int32Array(outer * count * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < count; i++) {
      const j = pick(i);
      const dst = (o * count + i) * inner;
      if (j < 0) res.fill(-1, dst, dst + inner);
      else res.set(x.subarray((o * s[axis] + j) * inner, (o * s[axis] + j + 1) * inner), dst);
    }
  }
  return res;
}

function both(t: Tracked, f: (x: Ids) => Ids, shape: number[]): Tracked {
  return { shape, q: f(t.q), ...(t.k ? { k: f(t.k) } : {}) };
}

/** One node's tracked outputs (null where the labels cannot follow). */
function step(ctx: Ctx, n: Ctx["nodes"][number], vals: Map<string, Tracked>): (Tracked | null)[] {
  const ins = n.inputs.map((t) => vals.get(t));
  const outShape = (k: number) => ctx.one.get(n.outputs[k])?.shape ?? null;
  const valueOf = (k: number) => (n.inputs[k] ? ctx.one.get(n.inputs[k])?.value : undefined);
  const os = outShape(0);
  const x = ins[0];
  if (!os) return [];
  if (MOVE.has(n.opType) && n.opType !== "Transpose") {
    if (!x || size(os) !== x.q.length) return [];
    return [both(x, (a) => a, os)];
  }
  if (n.opType === "Transpose") {
    if (!x) return [];
    const perm = (n.attrs.perm as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i);
    return [both(x, (a) => transpose(a, x.shape, perm), os)];
  }
  if (PER_TOKEN_UNARY.has(n.opType)) return x ? [both(x, (a) => project(a, x.shape, os), os)] : [];
  if (ELEMENTWISE.has(n.opType)) {
    // The labels of the tracked operand (constants and untracked shape arithmetic broadcast).
    const t = ins.find((v) => v && v.shape.length === os.length && v.shape.every((d, i) => d === os[i])) ?? ins.find((v) => v);
    return t ? [both(t, (a) => project(a, t.shape, os), os)] : [];
  }
  if (n.opType === "ReduceMean" || n.opType === "ReduceSum") {
    if (!x || os.length !== x.shape.length) return [];
    return [both(x, (a) => project(a, x.shape, os), os)];
  }
  if (n.opType === "MatMul") {
    const [a, b] = ins;
    if (a && !b) {
      // x·W: each output row is the token of the input row.
      const rowShape = [...a.shape.slice(0, -1), 1];
      return [both(a, (v) => project(project(v, a.shape, rowShape), rowShape, os), os)];
    }
    if (a && b && !a.k && !b.k) {
      // q·kᵀ: rows are queries, columns keys.
      const qs = [...a.shape.slice(0, -1), 1];
      const ks = [...b.shape.slice(0, -2), 1, b.shape[b.shape.length - 1]];
      return [{ shape: os, q: project(project(a.q, a.shape, qs), qs, os), k: project(project(b.q, b.shape, ks), ks, os) }];
    }
    if (a && a.k && b) {
      // probs·v: rows stay queries.
      const rowShape = [...a.shape.slice(0, -1), 1];
      return [{ shape: os, q: project(project(a.q, a.shape, rowShape), rowShape, os) }];
    }
    return [];
  }
  if (n.opType === "Einsum") return einsum(String(n.attrs.equation ?? ""), ins[0], ins[1], os);
  if (n.opType === "Slice") {
    if (!x) return [];
    const starts = valueOf(1) ?? (n.attrs.starts as number[] | undefined);
    const ends = valueOf(2) ?? (n.attrs.ends as number[] | undefined);
    const axes = valueOf(3) ?? (n.attrs.axes as number[] | undefined) ?? starts?.map((_, i) => i);
    const steps = valueOf(4) ?? starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) return [];
    let cur: Tracked = x;
    axes.forEach((ax0, i) => {
      const ax = ax0 < 0 ? ax0 + cur.shape.length : ax0;
      const d = cur.shape[ax];
      const st = steps[i];
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      const s0 = starts[i] < 0 ? starts[i] + d : starts[i];
      const e0 = ends[i] < 0 ? ends[i] + d : ends[i];
      const s = st > 0 ? clamp(s0, 0, d) : clamp(s0, -1, d - 1);
      const e = st > 0 ? clamp(e0, 0, d) : clamp(e0, -1, d - 1);
      const count = Math.max(0, Math.ceil((e - s) / st));
      const shape = [...cur.shape];
      shape[ax] = count;
      const c = cur;
      cur = both(c, (v) => along(v, c.shape, ax, count, (j) => s + j * st), shape);
    });
    return [cur.q.length === size(os) ? { ...cur, shape: os } : null];
  }
  if (n.opType === "Concat") {
    const parts = ins;
    if (parts.some((p) => !p)) return [];
    const rank = os.length;
    const ax = ((n.attrs.axis as number) + rank) % rank;
    const outer = size(os.slice(0, ax));
    const inner = size(os.slice(ax + 1));
    const mk = (sel: (p: Tracked) => Ids | undefined) => {
      const res = new Int32Array(size(os));
      let off = 0;
      for (const p of parts as Tracked[]) {
        const v = sel(p)!;
        const w = p.shape[ax] * inner;
        for (let o = 0; o < outer; o++) res.set(v.subarray(o * w, (o + 1) * w), o * os[ax] * inner + off);
        off += w;
      }
      return res;
    };
    const keyed = (parts as Tracked[]).every((p) => p.k);
    return [{ shape: os, q: mk((p) => p.q), ...(keyed ? { k: mk((p) => p.k) } : {}) }];
  }
  if (n.opType === "Pad") {
    if (!x) return [];
    const mode = String(n.attrs.mode ?? "constant");
    const pads = valueOf(1) ?? (n.attrs.pads as number[] | undefined);
    if (mode !== "constant" || !pads) return [];
    const r = x.shape.length;
    let cur: Tracked = x;
    for (let ax = 0; ax < r; ax++) {
      const [lo, hi] = [pads[ax], pads[ax + r]];
      if (!lo && !hi) continue;
      const c = cur;
      const count = c.shape[ax] + lo + hi;
      const shape = [...c.shape];
      shape[ax] = count;
      cur = both(c, (v) => along(v, c.shape, ax, count, (j) => (j - lo >= 0 && j - lo < c.shape[ax] ? j - lo : -1)), shape);
    }
    return [cur.q.length === size(os) ? { ...cur, shape: os } : null];
  }
  if (n.opType === "Split") {
    if (!x) return [];
    const r = x.shape.length;
    const ax = (((n.attrs.axis as number | undefined) ?? 0) + r) % r;
    let off = 0;
    return n.outputs.map((_, k) => {
      const s = outShape(k);
      if (!s) return null;
      const start = off;
      off += s[ax];
      return both(x, (v) => along(v, x.shape, ax, s[ax], (j) => start + j), s);
    });
  }
  if (n.opType === "Gather") {
    const idx = valueOf(1);
    if (!x || !idx) return [];
    const r = x.shape.length;
    const ax = (((n.attrs.axis as number | undefined) ?? 0) + r) % r;
    const picked = both(x, (v) => along(v, x.shape, ax, idx.length, (j) => (idx[j] < 0 ? idx[j] + x.shape[ax] : idx[j])), [...x.shape.slice(0, ax), idx.length, ...x.shape.slice(ax + 1)]);
    return [picked.q.length === size(os) ? { ...picked, shape: os } : null];
  }
  return [];
}

/** Two-operand einsum of tracked tokens: "…i…,…j…->…ij…" pairs queries with keys; "…ij,…jd->…id" keeps the queries. */
function einsum(eq: string, a: Tracked | undefined, b: Tracked | undefined, os: number[]): (Tracked | null)[] {
  const m = /^([a-z]+),([a-z]+)->([a-z]+)$/i.exec(eq.replace(/\s+/g, ""));
  if (!m || !a || !b) return [];
  const [la, lb, lo] = [m[1], m[2], m[3]];
  if (la.length !== a.shape.length || lb.length !== b.shape.length || lo.length !== os.length) return [];
  const gatherFrom = (letters: string, t: Tracked, v: Ids): Ids => {
    // An operand's element at the output's index (contracted letters read 0).
    const st = strides(t.shape);
    return strided(v, os, [...lo].map((c) => {
      const p = letters.indexOf(c);
      return p < 0 || t.shape[p] === 1 ? 0 : st[p];
    }));
  };

  if (!a.k && !b.k) return [{ shape: os, q: gatherFrom(la, a, a.q), k: gatherFrom(lb, b, b.q) }];
  if (a.k) return [{ shape: os, q: gatherFrom(la, a, a.q) }];
  return [];
}

/** Walks back from the attention Softmax along its query side to the window partition, then through a roll/pad to the spatial token tensor. */
function partitionStart(ctx: Ctx, softmax: string): { start: string; layout: "BHWC" | "BCHW" } | null {
  const g = ctx.model.graph;
  let t = softmax;
  for (let k = 0; k < 80; k++) {
    const p = g.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    const out = ctx.one.get(n.outputs[0])?.shape;
    if (n.opType === "Reshape" && out && out.length === 6) {
      let s = n.inputs[0];
      for (let j = 0; j < 12; j++) {
        const q = g.producer.get(s);
        if (q === undefined || !ROLL.has(ctx.nodes[q].opType)) break;
        s = ctx.nodes[q].inputs.find((x) => ctx.data.has(x)) ?? s;
      }
      const ss = ctx.one.get(s)?.shape;
      if (!ss || ss.length !== 4) return null;
      // [B, C, H/p, p, W/p, p] (MaxViT) or [B, H/ws, ws, W/ws, ws, C] (Swin), the grid possibly
      // padded to whole windows. A window spanning the whole width fits both readings; only
      // the channels-first one keeps C whole, so it wins.
      if (out[1] === ss[1] && out[2] * out[3] >= ss[2] && out[4] * out[5] >= ss[3]) return { start: s, layout: "BCHW" };
      if (out[5] === ss[3] && out[1] * out[2] >= ss[1] && out[3] * out[4] >= ss[2]) return { start: s, layout: "BHWC" };
      return null;
    }
    const data = n.inputs.filter((x) => ctx.data.has(x));
    if (data.length === 0) return null;
    t = data[0];
  }
  return null;
}

/**
 * Traces token cells to a windowed attention map (`softmax`: the Softmax output) and fits its
 * geometry; null (with the reason in `notes`) when the map is not a windowed partition of a
 * spatial token grid or the labels do not fit a window tiling or dilated grid.
 */
export function windowGeometry(ctx: Ctx, softmax: string, notes: string[], label: string): WindowGeometry | null {
  const ps = partitionStart(ctx, softmax);
  if (!ps) return null;
  const s = ctx.one.get(ps.start)!.shape!;
  const [H, W] = ps.layout === "BHWC" ? [s[1], s[2]] : [s[2], s[3]];
  const C = ps.layout === "BHWC" ? s[3] : s[1];
  const q = new Int32Array(size(s));
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) q[ps.layout === "BHWC" ? (y * W + x) * C + c : (c * H + y) * W + x] = y * W + x;
  const vals = new Map<string, Tracked>([[ps.start, { shape: s, q }]]);
  for (const i of branchNodes(ctx, ps.start, softmax)) {
    const n = ctx.nodes[i];
    let outs: (Tracked | null)[] = [];
    try {
      outs = step(ctx, n, vals);
    } catch {
      outs = [];
    }
    n.outputs.forEach((o, k) => {
      const v = outs[k];
      if (v) vals.set(o, v);
    });
  }
  const map = vals.get(softmax);
  if (!map?.k) {
    notes.push(`${label}: attention ${softmax} follows a window partition, but its token positions could not be traced`);
    return null;
  }
  const fit = fitWindows(map, H, W);
  if (typeof fit === "string") {
    notes.push(`${label}: attention ${softmax}: ${fit}`);
    return null;
  }
  const img = ctx.one.get(ctx.model.imageInput.name)?.shape;
  const stride = img && img.length === 4 && img[2] % H === 0 ? img[2] / H : img && img.length === 4 ? img[2] / H : 1;
  return { ...fit, grid: [H, W], stride };
}

/** Fits traced labels to an (optionally shifted, padded) window tiling or a dilated grid; a reason string when they do not fit. */
function fitWindows(map: Tracked, H: number, W: number): Omit<WindowGeometry, "grid" | "stride"> | string {
  const S = map.shape;
  const r = S.length;
  const N = S[r - 1];
  if (r < 3 || S[r - 2] !== N) return `map [${S}] is not square`;
  const lead = S.slice(0, r - 2);
  const st = strides(S);
  const q = map.q, k = map.k!;
  // Head axes: leading axes along which neither label changes.
  const headAxes: number[] = [];
  for (let a = 0; a < lead.length; a++) {
    if (lead[a] === 1) continue;
    let same = true;
    for (let e = 0; e < q.length && same; e++) {
      const ia = Math.floor(e / st[a]) % S[a];
      if (ia === 0) continue;
      const e0 = e - ia * st[a];
      if (q[e] !== q[e0] || k[e] !== k[e0]) same = false;
    }
    if (same) headAxes.push(a);
  }
  const heads = headAxes.reduce((p, a) => p * S[a], 1);
  const winAxes = lead.map((_, a) => a).filter((a) => !headAxes.includes(a));
  const windows = winAxes.reduce((p, a) => p * S[a], 1);
  // Window w's query labels (row i, key 0) and key labels (row 0, key j), head 0.
  const cellsOf = (w: number, which: "q" | "k"): number[] => {
    let base = 0;
    let rest = w;
    for (let j = winAxes.length - 1; j >= 0; j--) {
      const a = winAxes[j];
      base += (rest % S[a]) * st[a];
      rest = Math.floor(rest / S[a]);
    }
    const out: number[] = [];
    for (let i = 0; i < N; i++) out.push(which === "q" ? q[base + i * N] : k[base + i]);
    return out;
  };
  // Rows must hold one query each and columns one key each.
  for (let e = 0; e < q.length; e++) {
    if (q[e] !== q[e - (e % N)]) return "query labels vary along a row";
    const col = e % N;
    const rowStart = e - (e % (N * N));
    if (k[e] !== k[rowStart + col]) return "key labels vary along a column";
  }
  const cells: number[][] = [];
  for (let w = 0; w < windows; w++) {
    const cq = cellsOf(w, "q");
    const ck = cellsOf(w, "k");
    if (cq.some((v, i) => v !== ck[i])) return "queries and keys of a window are different tokens";
    cells.push(cq);
  }
  const c0 = cells[0];
  if (c0[0] < 0) return "window 0 starts on a padding token";
  const yx = (id: number) => [Math.floor(id / W), id % W];
  const [y0, x0] = yx(c0[0]);
  // Tokens per window row: until the row changes.
  let ww = 1;
  while (ww < N && c0[ww] >= 0 && yx(c0[ww])[0] === y0) ww++;
  if (N % ww !== 0) return `window of ${N} tokens does not split into rows of ${ww}`;
  const wh = N / ww;
  // Padded extents: the whole-window tiling (window) or the dilated grid (grid).
  const dxRaw = ww > 1 ? yx(c0[1])[1] - x0 : 1;
  const dyRaw = wh > 1 && c0[ww] >= 0 ? yx(c0[ww])[0] - y0 : 1;
  const dx = dxRaw > 0 ? dxRaw : 1;
  const dy = dyRaw > 0 ? dyRaw : 1;
  // Windows per row: until window token 0's row changes.
  let nc = 1;
  while (nc < windows && cells[nc][0] >= 0 && yx(cells[nc][0])[0] === y0) nc++;
  if (windows % nc !== 0) return `${windows} windows do not split into rows of ${nc}`;
  const nr = windows / nc;
  const contiguous = dx === 1 && dy === 1;
  const sx = contiguous ? ww : 1;
  const sy = contiguous ? wh : 1;
  const Hp = contiguous ? nr * wh : wh * dy;
  const Wp = contiguous ? nc * ww : ww * dx;
  if (Hp < H || Wp < W) return `the fitted windows (${nr}×${nc} of ${wh}×${ww}) do not cover the ${H}×${W} grid`;
  const shift: [number, number] = [y0, x0];
  for (let w = 0; w < windows; w++) {
    const [wr, wc] = [Math.floor(w / nc), w % nc];
    for (let t = 0; t < N; t++) {
      const [tr, tc] = [Math.floor(t / ww), t % ww];
      const y = (y0 + wr * sy + tr * dy) % Hp;
      const x = (x0 + wc * sx + tc * dx) % Wp;
      const want = y < H && x < W ? y * W + x : -1;
      if (cells[w][t] !== want) return `token ${t} of window ${w} is cell ${cells[w][t]}, the fitted ${contiguous ? "window tiling" : "dilated grid"} puts it at ${want}`;
    }
  }
  const kind: WindowGeometry["kind"] = windows === 1 && wh === H && ww === W && y0 === 0 && x0 === 0 ? "global" : contiguous ? "window" : "grid";
  return {
    kind, padded: [Hp, Wp], window: [wh, ww], dilation: [dy, dx], windowGrid: [nr, nc], windowStep: [sy, sx],
    shift, heads, windows, mapShape: [...S], headAxes,
  };
}

/** Image cell (row-major over the grid) of token t of window w, or −1 for a padding token. */
export function windowCell(g: WindowGeometry, w: number, t: number): number {
  const [H, W] = g.grid;
  const [Hp, Wp] = g.padded;
  const nc = g.windowGrid[1];
  const ww = g.window[1];
  const y = (g.shift[0] + Math.floor(w / nc) * g.windowStep[0] + Math.floor(t / ww) * g.dilation[0]) % Hp;
  const x = (g.shift[1] + (w % nc) * g.windowStep[1] + (t % ww) * g.dilation[1]) % Wp;
  return y < H && x < W ? y * W + x : -1;
}
