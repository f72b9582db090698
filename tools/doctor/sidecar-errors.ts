/**
 * What went wrong between the extension and its sidecar, told from the error a cheap query gets: the
 * SQLSTATE and message the wrapper (fdw/sidecar_client.c, fdw/request_signature.c) or the sidecar
 * (sidecar/errors.ts) raise, and what the database says about itself. Only SQL: the doctor may run on
 * another host than the cluster.
 */
import type { Check } from "./check.js";

export interface SidecarSetup {
  /** The socket the foreign server uses: its socket option, else the default path. */
  socket: string | null;
  /** The socket option of the foreign server pg_meminfo, when it has one. */
  socketOption: string | null;
  /** <first unix_socket_directories entry>/.s.PGMEMINFO.<port>/sidecar.sock, when there is such an entry. */
  defaultSocket: string | null;
  /** The command that starts the sidecar for this cluster. */
  startCommand: string;
  /** The postmaster's pid as the server knows it; 1 means the cluster is alone in a PID namespace. */
  postmasterPid: number | null;
}

export interface SidecarError {
  sqlstate?: string;
  message: string;
  detail?: string;
  hint?: string;
}

type Verdict = Pick<Check, "status" | "summary" | "fix">;

/** What to say when the cluster runs in a PID namespace of its own (a container). */
function namespaceNote(setup: SidecarSetup): string {
  if (setup.postmasterPid !== 1) return "";
  return (
    " The postmaster is pid 1: the cluster runs in a PID namespace of its own (a container), and a sidecar " +
    "outside it cannot find the postmaster and exits at start. Run it in the cluster's PID namespace: " +
    'docker run --pid container:<db container>, or pid: "service:<db service>" in docker-compose.yml.'
  );
}

/** The verdict on the sidecar for the error the probe query got. */
export function classifySidecarError(error: SidecarError, setup: SidecarSetup): Verdict {
  const { sqlstate = "", message } = error;
  const at = /sidecar at "([^"]+)"/.exec(message)?.[1] ?? setup.socket ?? "its socket";
  const elsewhere =
    setup.socketOption !== null && setup.defaultSocket !== null && setup.socketOption !== setup.defaultSocket;

  if (sqlstate === "08001" && /^could not connect to pg_meminfo sidecar/.test(message)) {
    if (/No such file or directory/.test(message)) {
      if (elsewhere) {
        return {
          status: "fail",
          summary: `wrong socket: the server option socket is '${setup.socketOption}', where nothing listens (the default is ${setup.defaultSocket})`,
          fix:
            "ALTER SERVER pg_meminfo OPTIONS (DROP socket); -- to use the default path, or start the sidecar " +
            `there: ${setup.startCommand} --socket '${setup.socketOption}'`,
        };
      }
      return {
        status: "fail",
        summary: `not running: no sidecar socket at ${at}`,
        fix: `Start it as the OS user that runs PostgreSQL: ${setup.startCommand}${
          setup.socketOption === null ? "" : ` --socket '${setup.socketOption}'`
        }. If it exits at once, its output says why.${namespaceNote(setup)}`,
      };
    }
    if (/Connection refused/.test(message)) {
      return {
        status: "fail",
        summary: `not running: the sidecar was stopped or killed and its socket ${at} is left behind`,
        fix: `Start it again (it removes the stale socket): ${setup.startCommand}${
          setup.socketOption === null ? "" : ` --socket '${setup.socketOption}'`
        }`,
      };
    }
    if (/Permission denied/.test(message)) {
      return {
        status: "fail",
        summary: `wrong user: PostgreSQL may not enter the sidecar's socket ${at}, which belongs to another OS user`,
        fix: `Stop that sidecar and start it as the OS user that runs PostgreSQL: ${setup.startCommand}`,
      };
    }
  }
  if (
    sqlstate === "08001" &&
    /^refusing pg_meminfo sidecar at .*another operating system user/.test(message)
  ) {
    return {
      status: "fail",
      summary: `wrong user: the process listening at ${at} runs as another OS user${
        error.detail ? ` (${error.detail.replace(/\.$/, "")})` : ""
      }`,
      fix: `Stop the process listening there and start the sidecar as the OS user that runs PostgreSQL: ${setup.startCommand}`,
    };
  }
  if (sqlstate === "08001" && /pg_meminfo sidecar secret/.test(message)) {
    return {
      status: "fail",
      summary: `secret unusable: ${message}${error.detail ? ` (${error.detail.replace(/\.$/, "")})` : ""}`,
      fix:
        "Restart the sidecar as the OS user that runs PostgreSQL: at every start it writes a new secret " +
        `beside its socket, mode 0600: ${setup.startCommand}`,
    };
  }
  if (sqlstate === "08006" && /did not answer within/.test(message)) {
    return {
      status: "fail",
      summary: `not answering: ${message}`,
      fix:
        "The sidecar is stopped (SIGSTOP) or hung: `kill -CONT <pid>` or restart it; " +
        "ALTER SERVER pg_meminfo OPTIONS (ADD timeout '30') waits longer.",
    };
  }
  if (sqlstate === "08006" && /could not reach the cluster/.test(message)) {
    return {
      status: "fail",
      summary: `the sidecar runs but cannot reach the database: ${message}`,
      fix:
        "Give the sidecar a --database (or PG* environment) that reaches this cluster, and let its role in " +
        "through pg_hba.conf; it reconnects by itself.",
    };
  }
  if (sqlstate === "HV00N" || /serves another PostgreSQL cluster/.test(message)) {
    return {
      status: "fail",
      summary: `the sidecar at ${at} serves another cluster${error.detail ? ` (${error.detail.replace(/\.$/, "")})` : ""}`,
      fix: elsewhere
        ? "ALTER SERVER pg_meminfo OPTIONS (DROP socket); -- to use this cluster's default socket, " +
          `and start this cluster's sidecar there: ${setup.startCommand}`
        : `Start this cluster's sidecar (its --database names this cluster): ${setup.startCommand}`,
    };
  }
  if (sqlstate === "28000" && /signature|not signed/.test(message)) {
    return {
      status: "fail",
      summary: `the sidecar rejects the extension's requests: ${message}`,
      fix: `Restart the sidecar so that its secret and socket match: ${setup.startCommand}`,
    };
  }
  if (sqlstate === "53300") {
    return { status: "warn", summary: `the sidecar is too busy right now: ${message}`, fix: "Try again." };
  }
  if (sqlstate === "58000") {
    return {
      status: "fail",
      summary: `the sidecar cannot read /proc: ${message}`,
      fix:
        "Run the sidecar on the cluster's host, as the OS user that runs PostgreSQL, without hidepid " +
        `on /proc for that user.${namespaceNote(setup)}`,
    };
  }
  if (sqlstate === "08P01") {
    return {
      status: "fail",
      summary: `the sidecar's answer does not fit this extension: ${message}`,
      fix: "Install the sidecar and the extension from the same release (npm run build; make -C fdw install).",
    };
  }
  return {
    status: "fail",
    summary: `the sidecar query failed: ${sqlstate ? `${sqlstate} ` : ""}${message}`,
    fix: error.hint ?? "The sidecar's log says what went wrong.",
  };
}
