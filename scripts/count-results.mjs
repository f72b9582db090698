// Print "N passed, N failed, N skipped" from vitest's JSON report: tests, not files; a file that
// failed to load counts as one failure; skipped and todo tests count as skipped. Usage: node count-results.mjs REPORT VITEST_EXIT_CODE [EXTRA_FAILURES]
import { readFileSync } from "node:fs";

const [reportPath = ".tmp/vitest.json", exitArg = "0", extraArg = "0"] = process.argv.slice(2);
const vitestExit = Number(exitArg);
const extra = Number(extraArg);

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  for (const file of report.testResults ?? []) {
    const tests = file.assertionResults ?? [];
    const failedHere = tests.filter((t) => t.status === "failed").length;
    passed += tests.filter((t) => t.status === "passed").length;
    skipped += tests.filter(
      (t) => t.status === "skipped" || t.status === "pending" || t.status === "todo",
    ).length;
    failed += failedHere;
    if (file.status === "failed" && failedHere === 0) failed += 1;
  }
  // A non-zero exit with no failed test (an unhandled error, a failed global setup) is a failure.
  if (vitestExit !== 0 && failed === 0) failed = 1;
} catch {
  passed = 0;
  failed = 1;
}
failed += extra;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
