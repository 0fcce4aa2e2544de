import { describe, expect, it } from "vitest";
import { flatten } from "../analyses/flatten.js";

// [B=2, T=3, D=2]: CLS then a 2-token "grid"; values encode (b, t, d) as 100b + 10t + d.
const btd = { data: Float64Array.from([0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]), shape: [2, 3, 2] };
const vit = { layout: "BTD", prefixTokens: 1 } as const;
// [B=2, C=2, H=1, W=2]
const bchw = { data: Float32Array.from([1, 3, 5, 9, 2, 2, 4, 8]), shape: [2, 2, 1, 2] };

describe("flatten", () => {
  it("flatten(all) keeps every element per example without copying", () => {
    const f = flatten(btd, "all", vit);
    expect(f.shape).toEqual([2, 6]);
    expect(f.data).toBe(btd.data);
  });

  it("flatten(cls) takes token 0", () => {
    const f = flatten(btd, "cls", vit);
    expect(f.shape).toEqual([2, 2]);
    expect(Array.from(f.data)).toEqual([0, 1, 100, 101]);
  });

  it("flatten(spatial) takes the non-prefix tokens", () => {
    const f = flatten(btd, "spatial", vit);
    expect(f.shape).toEqual([2, 4]);
    expect(Array.from(f.data)).toEqual([10, 11, 20, 21, 110, 111, 120, 121]);
  });

  it("flatten(gap) averages spatial tokens, or H·W of a BCHW map", () => {
    expect(Array.from(flatten(btd, "gap", vit).data)).toEqual([15, 16, 115, 116]);
    const g = flatten(bchw, "gap", { layout: "BCHW" });
    expect(g.shape).toEqual([2, 2]);
    expect(Array.from(g.data)).toEqual([2, 7, 2, 6]);
  });

  it("flatten rejects cls without a CLS token and unknown modes", () => {
    expect(() => flatten(btd, "cls", { layout: "BTD", prefixTokens: 0 })).toThrow(/no CLS token/);
    expect(() => flatten(bchw, "cls", { layout: "BCHW" })).toThrow(/BCHW site has no CLS/);
    expect(() => flatten(btd, "mean" as never, vit)).toThrow("invalid tokens: mean");
  });
});
