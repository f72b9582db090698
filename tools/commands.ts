/** The operator's commands of pg-meminfo: doctor, top and report, SQL clients of the extension's views. */
import type { Command } from "commander";
import { DOCTOR_HELP, runDoctor } from "./doctor/doctor.js";

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
