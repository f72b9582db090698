/**
 * The operator's commands of pg-meminfo: doctor, top and report, SQL clients of the extension's views.
 * Each is loaded when it runs, so that the sidecar never loads the tools (Ink, React, the report).
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import type { DoctorFlags } from "./doctor/doctor.js";
import { DOCTOR_HELP } from "./doctor/help.js";
import { REPORT_HELP } from "./report/help.js";
import type { ReportFlags } from "./report/report.js";
import { TOP_HELP } from "./top/help.js";
import type { TopFlags } from "./top/top.js";

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
    .action(
      guarded<DoctorFlags>(
        async (conninfo, flags) => (await import("./doctor/doctor.js")).runDoctor(conninfo, flags),
        2,
      ),
    );

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
    .action(
      guarded<TopFlags>(async (conninfo, flags) => {
        // Ink draws only the last frame when CI is set (is-in-ci, read when it loads); a terminal
        // that runs top is interactive, whatever the environment says.
        if (!flags.once && process.stdout.isTTY) {
          for (const key of ["CI", "CONTINUOUS_INTEGRATION"]) delete process.env[key];
        }
        return (await import("./top/top.js")).runTop(conninfo, flags);
      }, 1),
    );

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
    .action(
      guarded<ReportFlags>(
        async (conninfo, flags) => (await import("./report/report.js")).runReport(conninfo, flags),
        1,
      ),
    );
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
function guarded<F>(action: (conninfo: string | undefined, flags: F) => Promise<void>, code: number) {
  return async (conninfo: string | undefined, flags: F): Promise<void> => {
    try {
      await action(conninfo, flags);
    } catch (err) {
      process.stderr.write(`pg-meminfo: ${(err as Error).message}\n`);
      process.exitCode = code;
    }
  };
}
