import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Bounded, FrameBatcher } from "../src/buffer";
import { edgesOf, layout } from "../src/diagram";
import { durationMs, escalatedBy, escalationsOf } from "../src/escalation";
import { collect, fieldOfPath, initialValues, type FormFieldDef } from "../src/form";
import { newer, older } from "../src/paging";

const order = JSON.parse(readFileSync(new URL("../../../examples/order-processing.json", import.meta.url), "utf-8"));

describe("diagram", () => {
  it("draws every arrow kind of the order process", () => {
    const edges = edgesOf(order.steps);
    const has = (from: string, to: string, kind: string) => edges.some((e) => e.from === from && e.to === to && e.kind === kind);
    expect(has("validate_order", "payment_check", "flow")).toBe(true);
    expect(has("payment_check", "manager_approval", "branch")).toBe(true);
    expect(has("approval_decision", "reject_order", "branch")).toBe(true); // the default
    expect(has("risk_checks", "credit_check", "fork")).toBe(true);
    expect(has("manager_approval", "approval_timeout", "boundary")).toBe(true);
    expect(has("approval_timeout", "escalate_to_manager", "flow")).toBe(true);
    expect(has("credit_check", "credit_denied", "boundary")).toBe(true);
    expect(has("fraud_check", "ship_order", "join")).toBe(true); // after the parallel checks
  });

  it("layers steps after what leads to them, without overlaps", () => {
    const d = layout(order);
    const at = new Map(d.nodes.map((n) => [n.id, n]));
    expect(at.get("validate_order")!.layer).toBe(0);
    expect(at.get("manager_approval")!.layer).toBeGreaterThan(at.get("payment_check")!.layer);
    expect(at.get("ship_order")!.layer).toBeGreaterThan(at.get("credit_check")!.layer);
    const places = new Set(d.nodes.map((n) => `${n.x},${n.y}`));
    expect(places.size).toBe(d.nodes.length);
    for (const n of d.nodes) {
      expect(n.x).toBeLessThan(d.width);
      expect(n.y).toBeLessThan(d.height);
    }
  });

  it("joins an inclusive gateway's branches at its next", () => {
    const loan = JSON.parse(readFileSync(new URL("../../../examples/loan-application.json", import.meta.url), "utf-8"));
    const edges = edgesOf(loan.steps);
    expect(edges.some((e) => e.from === "due_diligence" && e.to === "underwriting_decision")).toBe(false);
    expect(edges.filter((e) => e.to === "underwriting_decision" && e.kind === "join").map((e) => e.from).sort()).toEqual(
      ["appraise_collateral", "credit_bureau_check", "verify_tax_returns"],
    );
    const at = new Map(layout(loan).nodes.map((n) => [n.id, n.layer]));
    expect(at.get("underwriting_decision")).toBe(at.get("credit_bureau_check")! + 1);
  });

  it("ends on a loop and on nonsense", () => {
    const loop = layout({ steps: [{ id: "a", type: "user_task", next: "b" }, { id: "b", type: "exclusive_gateway", config: { conditions: [{ expression: "${x}", next: "a" }], default: "c" } }, { id: "c", type: "end_event" }] });
    expect(loop.nodes.map((n) => n.layer)).toEqual([0, 1, 2]);
    expect(layout(null).nodes).toEqual([]);
    expect(layout({ steps: "no" }).nodes).toEqual([]);
  });
});

describe("form", () => {
  const fields: FormFieldDef[] = [
    { id: "approved", label: "OK", type: "boolean", required: true, values: [], description: "" },
    { id: "amount", label: "", type: "number", required: true, values: [], description: "" },
    { id: "count", label: "", type: "integer", required: false, values: [], description: "" },
    { id: "level", label: "", type: "enum", required: false, values: ["low", "high"], description: "" },
    { id: "extra", label: "", type: "object", required: false, values: [], description: "" },
  ];

  it("converts each field to its type", () => {
    const values = { ...initialValues(fields), approved: true, amount: "12.5", count: "3", level: "high", extra: '{"a": 1}' };
    expect(collect(fields, values)).toEqual({ variables: { approved: true, amount: 12.5, count: 3, level: "high", extra: { a: 1 } }, problems: {} });
  });

  it("says what is wrong, per field", () => {
    const values = { approved: false, amount: "", count: "2.5", level: "mid", extra: "[1]" };
    const { problems } = collect(fields, values);
    expect(Object.keys(problems).sort()).toEqual(["amount", "count", "extra", "level"]);
  });

  it("finds the field of a server problem's path", () => {
    expect(fieldOfPath("$.approved", fields)).toBe("approved");
    expect(fieldOfPath("$.variables.amount", fields)).toBe("amount");
    expect(fieldOfPath("$.other", fields)).toBe(null);
  });
});

describe("escalations", () => {
  it("reads the order's approval timer", () => {
    const [e] = escalationsOf(order, "manager_approval", "2026-01-01T10:00:00Z");
    expect(e.to).toBe("escalate_to_manager");
    expect(e.at!.toISOString()).toBe("2026-01-01T12:00:00.000Z");
    expect(escalationsOf(order, "escalate_to_manager", "2026-01-01T10:00:00Z")).toEqual([]);
    expect(escalatedBy(order, "escalate_to_manager")).toBe("2 小时未审批");
    expect(escalatedBy(order, "manager_approval")).toBe(null);
  });

  it("reads durations", () => {
    expect(durationMs("2h")).toBe(7_200_000);
    expect(durationMs("1d12h")).toBe(129_600_000);
    expect(durationMs("PT30M")).toBe(1_800_000);
    expect(durationMs("soon")).toBe(null);
  });
});

describe("buffers", () => {
  it("keeps the last items and counts the dropped", () => {
    const b = new Bounded<number>(3);
    b.push(1, 2, 3, 4, 5);
    expect(b.items).toEqual([3, 4, 5]);
    expect(b.dropped).toBe(2);
  });

  it("delivers one batch per frame", () => {
    const frames: (() => void)[] = [];
    const batches: number[][] = [];
    const batcher = new FrameBatcher<number>((b) => batches.push(b), (f) => frames.push(f));
    for (let i = 0; i < 1000; i++) batcher.add(i);
    expect(frames.length).toBe(1);
    frames.shift()!();
    batcher.add(1000);
    frames.shift()!();
    expect(batches.map((b) => b.length)).toEqual([1000, 1]);
  });
});

describe("paging by cursor", () => {
  it("goes older and back newer to the same pages", () => {
    const first = { after: "", back: "" };
    const second = older(first, "c1");
    const third = older(second, "c2");
    expect(second).toEqual({ after: "c1", back: "" });
    expect(third).toEqual({ after: "c2", back: "c1" });
    expect(newer(third)).toEqual(second);
    expect(newer(newer(third))).toEqual(first);
    expect(newer(first)).toEqual(first); // no page before the first
  });
});
