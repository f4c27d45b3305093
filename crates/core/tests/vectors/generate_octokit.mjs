// GitHub webhook signature test vectors for Switchyard, made with @octokit/webhooks-methods.
//
// Writes github.json next to this script. The package is loaded from the npm project in
// $VECNPM (default /tmp/vecnpm), set up as README.md in this folder says:
//   mkdir -p /tmp/vecnpm && cd /tmp/vecnpm && npm init -y && npm install @octokit/webhooks-methods@6.0.0
//   node crates/core/tests/vectors/generate_octokit.mjs
//
// Every input is fixed, so re-running with the same package version rewrites an identical
// file. Every case is checked with the package's verify / verifyWithFallback before it is
// written; the run stops on the first case whose verdict differs from its "expect".

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(process.env.VECNPM ?? "/tmp/vecnpm", "node_modules", "@octokit", "webhooks-methods");
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const { sign, verify, verifyWithFallback } = await import(
  pathToFileURL(join(pkgDir, pkg.exports["."].node.import)).href
);

const TS = 1763800000;
const TOL = 300;
const HEADER = "X-Hub-Signature-256";

function testCase(name, { secrets, headers, body, expect, now = TS }) {
  return { name, secrets, tolerance_seconds: TOL, now, method: "POST", url: null, headers, body, expect };
}

function hdrs(sig) {
  const h = {
    "X-GitHub-Event": "push",
    "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "X-GitHub-Hook-ID": "292430182",
    "Content-Type": "application/json",
  };
  if (sig !== undefined) h[HEADER] = sig;
  return h;
}

async function libVerify(c) {
  // Header lookup is case-insensitive, as in a web framework.
  const key = Object.keys(c.headers).find((k) => k.toLowerCase() === HEADER.toLowerCase());
  const sig = key === undefined ? undefined : c.headers[key];
  try {
    return await verifyWithFallback(c.secrets[0], c.body, sig, c.secrets.slice(1));
  } catch (e) {
    if (e instanceof TypeError) return false; // verify() throws when the signature is missing
    throw e;
  }
}

const secret = "switchyard-github-webhook-secret-3f9a1c";
const old = "switchyard-github-old-secret-8b2d7e";
const body =
  '{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",' +
  '"after":"0000000000000000000000000000000000000000","repository":{"id":35129377,"full_name":"switchyard/test",' +
  '"private":false},"pusher":{"name":"renée","email":"renee@example.com"},"head_commit":{"message":"Fix crème brûlée ✨"}}';
const tampered = body.replace("refs/heads/main", "refs/heads/evil");

const sig = await sign(secret, body);
// GitHub's published example (docs: Validating webhook deliveries).
const docsSecret = "It's a Secret to Everybody";
const docsBody = "Hello, World!";
const docsSig = await sign(docsSecret, docsBody);
if (docsSig !== "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17") {
  throw new Error(`docs example mismatch: ${docsSig}`);
}
if (!(await verify(secret, body, sig))) throw new Error("verify rejects its own signature");

const cases = [
  testCase("valid", { secrets: [secret], headers: hdrs(sig), body, expect: "ok" }),
  testCase("valid_rotated", { secrets: [old, secret], headers: hdrs(sig), body, expect: "ok" }),
  testCase("tampered_body", { secrets: [secret], headers: hdrs(sig), body: tampered, expect: "reject" }),
  testCase("wrong_secret", { secrets: [old], headers: hdrs(sig), body, expect: "reject" }),
  testCase("missing_header", { secrets: [secret], headers: hdrs(undefined), body, expect: "reject" }),
  testCase("docs_example", { secrets: [docsSecret], headers: hdrs(docsSig), body: docsBody, expect: "ok" }),
];

const required = ["valid", "valid_rotated", "tampered_body", "wrong_secret", "missing_header"];
for (const name of required) {
  if (!cases.some((c) => c.name === name)) throw new Error(`missing required case ${name}`);
}
for (const c of cases) {
  const got = (await libVerify(c)) ? "ok" : "reject";
  if (got !== c.expect) throw new Error(`github/${c.name}: library says ${got}, case expects ${c.expect}`);
  if (c.name === "valid_rotated") {
    if (await libVerify({ ...c, secrets: c.secrets.slice(0, 1) })) throw new Error("old secret alone verifies");
    if (!(await libVerify({ ...c, secrets: c.secrets.slice(1) }))) throw new Error("new secret alone fails");
  }
}

const doc = {
  scheme: "github",
  generated_by:
    `node @octokit/webhooks-methods==${pkg.version}: sign, checked with verify / verifyWithFallback ` +
    "(docs_example is GitHub's published example)",
  cases,
};
const out = join(HERE, "github.json");
writeFileSync(out, JSON.stringify(doc, null, 2) + "\n", "utf8");
console.log(`wrote github.json: ${cases.length} cases`);
