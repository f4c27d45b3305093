// Verifies captured GitHub requests from `switchyard send` with @octokit/webhooks-methods.
// argv[2]: the same JSON list verify_sent.py reads; only "github" entries are checked.
// The package is loaded from the npm project in $OCTOKIT_NPM (see .ci/run). Exit codes as
// verify_sent.py: 1 if any verdict differs from "expect", 3 if the package is missing.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const pkgDir = join(process.env.OCTOKIT_NPM ?? "/tmp/octokit-npm", "node_modules", "@octokit", "webhooks-methods");
if (!existsSync(join(pkgDir, "package.json"))) {
  console.log(`github: library missing at ${pkgDir}`);
  process.exit(3);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const { verify } = await import(pathToFileURL(join(pkgDir, pkg.exports["."].node.import)).href);

let failed = 0;
for (const c of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  if (c.scheme !== "github") continue;
  const header = Object.entries(c.headers).find(([k]) => k.toLowerCase() === "x-hub-signature-256")?.[1];
  const ok = header !== undefined && (await verify(c.secret, c.body, header));
  const want = (c.expect ?? "ok") === "ok";
  console.log(`github ${c.label ?? ""}: ${ok ? "ok" : "rejected"}${ok === want ? "" : "  <- WRONG VERDICT"}`);
  if (ok !== want) failed += 1;
}
process.exit(failed ? 1 : 0);
