// The protocol types against docs/protocol.schema.json, without a server: src/schema.gen.ts
// must be what scripts/gen-types.mjs writes from the schema as it is now (so a schema change
// without `npm run gen:types` fails here, and src/schema.check.ts then fails the type check
// wherever src/protocol.ts no longer matches), the generator must translate each construct
// the schema uses, and `OPS` must list the schema's ops.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, describe, expect, test } from "vitest";

import { OPS } from "../src/index.ts";

const script = fileURLToPath(new URL("../scripts/gen-types.mjs", import.meta.url));
const schemaPath = fileURLToPath(new URL("../../../docs/protocol.schema.json", import.meta.url));
const generatedPath = fileURLToPath(new URL("../src/schema.gen.ts", import.meta.url));
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));

const tmp = mkdtempSync(join(tmpdir(), "gen-types-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function gen(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [script, ...args], { encoding: "utf8" });
}

let fixtures = 0;
/** Generates from `s` into a scratch file; returns the result and the file's text. */
function generate(s: unknown): { status: number | null; stderr: string; text: string } {
  const n = fixtures++;
  const input = join(tmp, `schema-${n}.json`);
  const out = join(tmp, `out-${n}.ts`);
  writeFileSync(input, JSON.stringify(s));
  const r = gen("--schema", input, "--out", out);
  let text = "";
  try {
    text = readFileSync(out, "utf8");
  } catch {
    // Nothing written: the status and stderr tell why.
  }
  return { status: r.status, stderr: r.stderr, text };
}

describe("generated protocol types", () => {
  test("src/schema.gen.ts is what the schema generates (else: npm run gen:types)", () => {
    const r = gen("--check");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("the check fails with the command to run when the schema changed", () => {
    const changed = structuredClone(schema);
    changed.$defs.Area.properties.z = { type: "integer" };
    changed.$defs.Area.required.push("z");
    const input = join(tmp, "changed.json");
    const out = join(tmp, "stale.ts");
    writeFileSync(input, JSON.stringify(changed));
    writeFileSync(out, readFileSync(generatedPath, "utf8"));

    const stale = gen("--check", "--schema", input, "--out", out);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/stale\.ts is stale \(first difference at line \d+\)/);
    expect(stale.stderr).toContain("npm run gen:types");
    expect(readFileSync(out, "utf8")).toBe(readFileSync(generatedPath, "utf8")); // --check writes nothing

    const missing = gen("--check", "--schema", input, "--out", join(tmp, "missing.ts"));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("missing.ts is missing");

    expect(gen("--schema", input, "--out", out).status).toBe(0);
    expect(gen("--check", "--schema", input, "--out", out).status).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("  z: number;\n");
  });

  test("the output does not depend on the order of keys in the schema", () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : typeof v === "object" && v !== null
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, k === "required" ? [...(x as string[])].reverse() : reversed(x)]),
            )
          : v;
    const a = generate(schema);
    const b = generate(reversed(schema));
    expect(a.status).toBe(0);
    // The first line names the schema file, which differs here.
    const body = (text: string) => text.slice(text.indexOf("\n"));
    expect(body(b.text)).toBe(body(a.text));
    expect(body(a.text)).toBe(body(readFileSync(generatedPath, "utf8")));
  });

  test("each construct the schema uses becomes its TypeScript type", () => {
    const { status, stderr, text } = generate({
      anyOf: [{ $ref: "#/$defs/Request" }, { $ref: "#/$defs/Thing" }],
      title: "fixture",
      $defs: {
        Kind: { description: "A kind.", enum: ["a", "b"], type: "string" },
        Code: {
          oneOf: [
            { const: "x", description: "Ex.", type: "string" },
            { const: "y", type: "string" },
          ],
        },
        Request: {
          oneOf: [
            {
              additionalProperties: false,
              properties: { op: { const: "get_thing", type: "string" }, id: { type: "integer" } },
              required: ["op", "id"],
              type: "object",
            },
            {
              additionalProperties: false,
              description: "Puts.",
              properties: {
                op: { const: "put", type: "string" },
                by: { additionalProperties: { type: "integer" }, default: {}, type: "object" },
              },
              required: ["op"],
              type: "object",
            },
          ],
          type: "object",
        },
        Thing: {
          description: "Two lines\nof description.",
          properties: {
            count: { format: "uint64", minimum: 0, type: "integer" },
            ratio: { type: "number" },
            name: { type: ["string", "null"] },
            on: { default: false, type: "boolean" },
            kind: { $ref: "#/$defs/Kind" },
            parent: { anyOf: [{ $ref: "#/$defs/Thing" }, { type: "null" }] },
            tags: { items: { type: "string" }, type: "array" },
            mixed: { items: { anyOf: [{ $ref: "#/$defs/Kind" }, { type: "null" }] }, type: "array" },
            extra: { additionalProperties: true, type: "object" },
            "odd-key": { type: "string" },
          },
          required: ["count", "kind", "tags"],
          type: "object",
        },
        Open: { type: "object" },
      },
    });
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(text).toContain("/** fixture. */\nexport type Frame =\n  | Request\n  | Thing;\n");
    expect(text).toContain('/** A kind. */\nexport type Kind = "a" | "b";\n');
    expect(text).toContain('export type Code =\n  /** Ex. */\n  | "x"\n  | "y";\n');
    expect(text).toContain("export type Request =\n  | GetThingRequest\n  | PutRequest;\n");
    expect(text).toContain(
      '/** The `Request` whose `op` is `"get_thing"`. */\nexport interface GetThingRequest {\n  id: number;\n  op: "get_thing";\n}\n',
    );
    expect(text).toContain(
      '/** Puts. */\nexport interface PutRequest {\n  /** @default {} */\n  by?: { [key: string]: number };\n  op: "put";\n}\n',
    );
    expect(text).toContain(
      [
        "/**",
        " * Two lines",
        " * of description.",
        " */",
        "export interface Thing {",
        "  count: number;",
        "  extra?: { [key: string]: unknown };",
        "  kind: Kind;",
        "  mixed?: (Kind | null)[];",
        "  name?: string | null;",
        '  "odd-key"?: string;',
        "  /** @default false */",
        "  on?: boolean;",
        "  parent?: Thing | null;",
        "  ratio?: number;",
        "  tags: string[];",
        "}",
      ].join("\n"),
    );
    expect(text).toContain("export interface Open {\n  [key: string]: unknown;\n}\n");
  });

  test("a keyword it cannot translate stops it, naming where", () => {
    const r = generate({ $defs: { Both: { allOf: [{ type: "string" }, { minLength: 1 }] } } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("#/$defs/Both: keyword allOf is not supported");
    expect(r.text).toBe("");

    const ref = generate({ $defs: { Dangling: { $ref: "#/$defs/Nowhere" } } });
    expect(ref.status).toBe(1);
    expect(ref.stderr).toContain("$ref #/$defs/Nowhere is not a definition");
  });

  test("the op list is the schema's", () => {
    const ops: string[] = schema.$defs.ClientFrame.oneOf.map((o: { properties: { op: { const: string } } }) => o.properties.op.const);
    expect([...OPS].sort()).toEqual([...ops].sort());
    expect(new Set(OPS).size).toBe(OPS.length);
  });
});
