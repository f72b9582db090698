/** pg-meminfo doctor: what is set up right and what not, with the fix for each. */
import { clientConfig } from "../connection.js";
import { exitCode } from "./check.js";
import { diagnose } from "./checks.js";
import { asJson, asText } from "./output.js";

export interface DoctorFlags {
  json?: boolean;
}

export async function runDoctor(conninfo: string | undefined, flags: DoctorFlags): Promise<void> {
  const checks = await diagnose(clientConfig(conninfo, "pg-meminfo doctor"));
  process.stdout.write(flags.json ? asJson(checks) : asText(checks));
  process.exitCode = exitCode(checks);
}
