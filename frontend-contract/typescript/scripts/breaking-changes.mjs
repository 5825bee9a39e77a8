// The breaking-change check of the contract: frontend-contract/schema.graphql against the
// baseline (schema.baseline.graphql: the contract as clients last got it), with
// graphql-inspector's diff. A breaking change fails unless it is declared, with a reason, in
// frontend-contract/breaking-changes.json. docs/sdk.md says when and how to move the baseline.
//
//   node scripts/breaking-changes.mjs            check (exit 1: undeclared breaking changes)
//   node scripts/breaking-changes.mjs --accept   the baseline becomes the current schema, and
//                                                the declarations are emptied (a release)
//   --schema, --baseline, --declared PATH        other files than the contract's
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { CriticalityLevel, diff } from "@graphql-inspector/core";
import { buildSchema } from "graphql";

const contract = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// the paths may be given (the tests check the check on copies)
const { values: args } = parseArgs({
  options: {
    accept: { type: "boolean", default: false },
    schema: { type: "string", default: join(contract, "schema.graphql") },
    baseline: { type: "string", default: join(contract, "schema.baseline.graphql") },
    declared: { type: "string", default: join(contract, "breaking-changes.json") },
  },
});
const SCHEMA = args.schema;
const BASELINE = args.baseline;
const DECLARED = args.declared;

function load(path) {
  return buildSchema(readFileSync(path, "utf-8"));
}

function declarations() {
  const file = JSON.parse(readFileSync(DECLARED, "utf-8"));
  const entries = Array.isArray(file.declared) ? file.declared : [];
  for (const entry of entries) {
    if (!entry.type || !entry.path || !String(entry.reason ?? "").trim()) {
      throw new Error(`${DECLARED}: every declaration needs "type", "path" and a "reason": ${JSON.stringify(entry)}`);
    }
  }
  return entries;
}

if (args.accept) {
  writeFileSync(BASELINE, readFileSync(SCHEMA, "utf-8"));
  writeFileSync(DECLARED, `${JSON.stringify({ declared: [] }, null, 2)}\n`);
  console.log("contract: the baseline is now schema.graphql; declarations emptied");
  process.exit(0);
}

const changes = await diff(load(BASELINE), load(SCHEMA));
const declared = declarations();
const isDeclared = (change) => declared.some((d) => d.type === change.type && d.path === change.path);
const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
const undeclared = breaking.filter((c) => !isDeclared(c));
const dangerous = changes.filter((c) => c.criticality.level === CriticalityLevel.Dangerous);
const safe = changes.length - breaking.length - dangerous.length;

console.log(
  `contract: ${changes.length} change(s) since the baseline: ${breaking.length} breaking ` +
    `(${breaking.length - undeclared.length} declared), ${dangerous.length} dangerous, ${safe} safe`,
);
for (const change of dangerous) {
  console.log(`  dangerous  ${change.type} ${change.path ?? ""}: ${change.message}`);
}
for (const change of breaking) {
  const mark = isDeclared(change) ? "declared " : "BREAKING ";
  console.log(`  ${mark} ${change.type} ${change.path ?? ""}: ${change.message}`);
}
const stale = declared.filter((d) => !breaking.some((c) => c.type === d.type && c.path === d.path));
for (const entry of stale) {
  console.log(`  (a declaration matches no change: ${entry.type} ${entry.path})`);
}
if (undeclared.length > 0) {
  console.error(
    `\ncontract: ${undeclared.length} undeclared breaking change(s). Clients built on the ` +
      `baseline would break. Keep the old field or argument (deprecate it), or declare each ` +
      `change in frontend-contract/breaking-changes.json:\n` +
      undeclared
        .map((c) => `  {"type": "${c.type}", "path": "${c.path ?? ""}", "reason": "<why, and what clients do>"}`)
        .join(",\n"),
  );
  process.exit(1);
}
