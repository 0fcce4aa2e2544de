/**
 * Graph index: who produces and who consumes each tensor, a topological order, and the first
 * cycle found when there is no such order. Shape inference lives in ./shapes.ts.
 */

/** The minimum a node must carry to be indexed. */
export interface GraphNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
}

/** Producer/consumer index over a node list. */
export interface GraphIndex {
  /** tensor → index of the node producing it. */
  producer: Map<string, number>;
  /** tensor → indices of the nodes reading it (in node order, repeated when read twice). */
  consumers: Map<string, number[]>;
  /** Node indices in a topological order (stable: file order among ready nodes). */
  order: number[];
  /** position[i] = rank of node i in `order` (-1 when on a cycle). */
  position: Int32Array;
  /** Tensors produced by more than one node, with the producers' names. */
  duplicates: Map<string, string[]>;
  /** Node indices along one cycle, or null when the graph is acyclic. */
  cycle: number[] | null;
}

/**
 * Builds the producer/consumer index and a topological order (Kahn's algorithm).
 *
 * @example
 * const g = graphIndex(model.nodes);
 * g.consumers.get("/encoder/Add_output_0"); // [57, 60]
 */
export function graphIndex(nodes: readonly GraphNode[]): GraphIndex {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const duplicates = new Map<string, string[]>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (o === "") continue;
      const prev = producer.get(o);
      if (prev !== undefined) duplicates.set(o, [...(duplicates.get(o) ?? [nodes[prev].name || String(prev)]), n.name || String(i)]);
      else producer.set(o, i);
    }
    for (const t of n.inputs) {
      if (t === "") continue;
      let list = consumers.get(t);
      if (!list) consumers.set(t, (list = []));
      list.push(i);
    }
  });
  const indegree = new Int32Array(nodes.length);
  nodes.forEach((n, i) => {
    for (const t of new Set(n.inputs)) if (t !== "" && producer.has(t)) indegree[i]++;
  });
  // Nodes become ready in file order, so an already sorted file keeps its order.
  const order: number[] = [];
  const position = new Int32Array(nodes.length).fill(-1);
  const ready: number[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) if (indegree[i] === 0) ready.push(i);
  const heap = new MinHeap(ready);
  while (heap.size > 0) {
    const i = heap.pop();
    position[i] = order.length;
    order.push(i);
    const seen = new Set<number>();
    for (const o of nodes[i].outputs) {
      for (const c of consumers.get(o) ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        if (--indegree[c] === 0) heap.push(c);
      }
    }
  }
  let cycle: number[] | null = null;
  if (order.length < nodes.length) cycle = findCycle(nodes, producer, position);
  return { producer, consumers, order, position, duplicates, cycle };
}

function findCycle(nodes: readonly GraphNode[], producer: Map<string, number>, position: Int32Array): number[] {
  // Walk producers backwards among unsorted nodes until a node repeats.
  let i = position.findIndex((p) => p < 0);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(i)) {
    seenAt.set(i, path.length);
    path.push(i);
    const next = nodes[i].inputs.map((t) => producer.get(t)).find((p) => p !== undefined && position[p] < 0);
    if (next === undefined) break;
    i = next;
  }
  const from = seenAt.get(i) ?? 0;
  return path.slice(from).reverse();
}

class MinHeap {
  private a: number[] = [];
  constructor(items: number[]) {
    for (const x of items) this.push(x);
  }
  get size() {
    return this.a.length;
  }
  push(x: number) {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * True when tensor `a` is an ancestor of tensor `b` (b depends on a), walking producers back
 * from b and pruning nodes that come before a's producer in topological order.
 *
 * @example
 * isAncestor(g, nodes, "x", "/block/Add_output_0"); // true
 */
export function isAncestor(g: GraphIndex, nodes: readonly GraphNode[], a: string, b: string): boolean {
  if (a === b) return true;
  const pa = g.producer.get(a);
  const floor = pa === undefined ? -1 : g.position[pa];
  const stack = [b];
  const seen = new Set<string>([b]);
  while (stack.length) {
    const t = stack.pop()!;
    const p = g.producer.get(t);
    if (p === undefined || g.position[p] <= floor) continue;
    for (const i of nodes[p].inputs) {
      if (i === a) return true;
      if (i === "" || seen.has(i)) continue;
      seen.add(i);
      stack.push(i);
    }
  }
  return false;
}
