// Builds the demo page served at /demo (crates/realtime-server/assets/demo/) from demo/:
// one minified script bundling React, the client and the starknet.js signer, plus the page
// and its stylesheet. The output is committed, so the server builds without Node;
// `--check` fails when it is stale (the tests run it).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const out = resolve(root, "../../crates/realtime-server/assets/demo");
const check = process.argv.includes("--check");

const result = await build({
  entryPoints: [join(root, "demo/main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "eof",
  write: false,
  logLevel: "warning",
});
const files = {
  "demo.js": result.outputFiles[0].text,
  "demo.css": readFileSync(join(root, "demo/demo.css"), "utf8"),
  "index.html": readFileSync(join(root, "demo/index.html"), "utf8"),
};

let stale = [];
for (const [name, text] of Object.entries(files)) {
  const path = join(out, name);
  let current = null;
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current === text) continue;
  if (check) stale.push(name);
  else writeFileSync(path, text);
}
if (stale.length) {
  console.error(`the demo in ${out} is stale (${stale.join(", ")}): run npm run build:demo`);
  process.exit(1);
}
if (!check) console.log(`demo built into ${out} (demo.js ${(files["demo.js"].length / 1024).toFixed(0)} KiB)`);
