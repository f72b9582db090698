/** npm run bench: the sidecar against the original extension and the kernel's floor. */
import { Command, InvalidArgumentError } from "commander";
import { formatReport } from "./report.js";
import { runBench } from "./run.js";

const DEFAULT_CURVE = [10, 100, 300, 1000];

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a positive integer");
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("a whole number, 0 or more");
  return n;
}

function counts(value: string): number[] {
  return value.split(",").map((v) => positive(v.trim()));
}

const cli = new Command("bench")
  .description("time pg_meminfo's queries against the original extension and `cat` of the same /proc files")
  .option("--backends <n>", "client backends of the main comparison", positive, 300)
  .option("--curve [counts]", `also measure at these backend counts (default ${DEFAULT_CURVE.join(",")})`)
  .option("--runs <n>", "timed runs of each query (the median is reported)", positive, 5)
  .option("--no-install", "skip `make install` of the extension and the original's stand-in")
  .option("--sidecar-arg <arg...>", "extra arguments for `pg-meminfo sidecar`")
  .option(
    "--read-threads <counts>",
    "also measure the sidecar with these --read-threads values, at --backends (e.g. 0,1)",
    (value: string) => value.split(",").map((v) => Number(v.trim())),
    [],
  )
  .option(
    "--concurrent-scans <n>",
    "distinct get_all_smaps scans run at once at --backends, to measure what waiting requests cost (0: none)",
    nonNegative,
    100,
  )
  .option(
    "--sampler-seconds <n>",
    "seconds the history sampler is measured at --backends (0 skips it)",
    nonNegative,
    10,
  )
  .parse();

const opts = cli.opts<{
  backends: number;
  curve?: string | boolean;
  runs: number;
  install: boolean;
  sidecarArg?: string[];
  readThreads: number[];
  concurrentScans: number;
  samplerSeconds: number;
}>();
const curve =
  opts.curve === undefined ? [] : opts.curve === true ? DEFAULT_CURVE : counts(String(opts.curve));

try {
  const results = await runBench({
    backends: opts.backends,
    curve,
    runs: opts.runs,
    install: opts.install,
    sidecarArgs: opts.sidecarArg ?? [],
    readThreads: opts.readThreads.filter((n) => Number.isInteger(n) && n >= 0),
    concurrentScans: opts.concurrentScans,
    samplerSeconds: opts.samplerSeconds,
  });
  process.stdout.write(formatReport(results, opts.backends, opts.runs));
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
}
