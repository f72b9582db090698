/** The operator's commands of pg-meminfo: doctor, top and report, SQL clients of the extension's views. */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DOCTOR_HELP, runDoctor } from "./doctor/doctor.js";
import { REPORT_HELP, runReport } from "./report/report.js";
import { runTop, TOP_HELP } from "./top/top.js";

const CONNINFO = "libpq connection string or postgresql:// URI (default: the PG* environment)";

/** Adds the tools' subcommands to the pg-meminfo program. */
export function addToolCommands(cli: Command): void {
  cli
    .command("doctor")
    .description(
      "check the setup (server, extension, role, sidecar, kernel, server log, history) and say how to fix it",
    )
    .argument("[conninfo]", CONNINFO)
    .option("--json", "print the checks as JSON")
    .addHelpText("after", DOCTOR_HELP)
    .action(guarded(runDoctor, 2));

  cli
    .command("top")
    .description("a full-screen view of every process's memory, refreshed every 2 s, sorted by own memory")
    .argument("[conninfo]", CONNINFO)
    .option("--interval <seconds>", "seconds between refreshes (0.5 to 3600)", interval, 2)
    .option("--once", "print one screen as text and exit (for pipes and scripts)")
    .addOption(
      new Option("--sort <key>", "the order: own memory, PSS or growth")
        .choices(["own", "pss", "growth"])
        .default("own"),
    )
    .addHelpText("after", TOP_HELP)
    .action(guarded(runTop, 1));

  cli
    .command("report")
    .description("write one self-contained HTML report of the cluster's memory, now and over its history")
    .argument("[conninfo]", CONNINFO)
    .requiredOption("--html <file>", "the HTML file to write")
    .option(
      "--context-seconds <seconds>",
      "how long memory_context_growth watches each growing process (0.5 to 60)",
      contextSeconds,
      5,
    )
    .addHelpText("after", REPORT_HELP)
    .action(guarded(runReport, 1));
}

function contextSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.5 || seconds > 60)
    throw new InvalidArgumentError("a number of seconds from 0.5 to 60");
  return seconds;
}

function interval(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.5 || seconds > 3600)
    throw new InvalidArgumentError("a number of seconds from 0.5 to 3600");
  return seconds;
}

/** Runs a command; a bad connection string or an unexpected error is one line on stderr and `code`. */
function guarded<A extends unknown[]>(action: (...args: A) => Promise<void>, code: number) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (err) {
      process.stderr.write(`pg-meminfo: ${(err as Error).message}\n`);
      process.exitCode = code;
    }
  };
}
