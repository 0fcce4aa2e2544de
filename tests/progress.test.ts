import { describe, expect, it } from "vitest";
import { progressPrinter } from "../src/engine/progress.js";

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => out.push(s) } };
}

describe("progressPrinter", () => {
  it("progressPrinter on a TTY redraws one bar with rate, ETA and the models", () => {
    const { out, stream } = sink(true);
    const p = progressPrinter(stream);
    p({ phase: "main: vit-tiny, resnet-tiny", done: 50, total: 200, elapsed: 2 });
    p({ phase: "main: vit-tiny, resnet-tiny", done: 100, total: 200, elapsed: 4 });
    p.end();
    expect(out[0].startsWith("\r")).toBe(true);
    expect(out[1]).toContain("100/200 img 25.0 img/s ETA 0:04");
    expect(out[1]).toContain("vit-tiny, resnet-tiny");
    expect(out[1]).toContain("[############------------]");
    expect(out.at(-1)).toBe("\n");
  });

  it("progressPrinter off a TTY prints plain lines, at most one per 5 s plus the last", () => {
    const { out, stream } = sink(false);
    const p = progressPrinter(stream);
    for (let i = 1; i <= 10; i++) p({ phase: "train: vit-tiny", done: i * 10, total: 100, elapsed: i });
    p.end();
    expect(out.every((l) => l.endsWith("\n") && !l.includes("\r"))).toBe(true);
    expect(out).toHaveLength(2);
    expect(out[1]).toBe("train: vit-tiny: 100/100 img 10.0 img/s ETA 0:00\n");
  });
});
