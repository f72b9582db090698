/**
 * The db container's processes and their /proc/PID/smaps_rollup, read inside it with docker exec, by
 * bash builtins only. The container shares its pid namespace with the sidecar's, so its own processes
 * are those in the cgroups of its pid 1 (the postmaster); the reading shell and its subshells are left
 * out.
 */
import type { StartedTestContainer } from "testcontainers";

export interface ContainerProcess {
  pid: number;
  ppid: number;
  /** argv[0]: the process title of a PostgreSQL process ("postgres: checkpointer"). */
  title: string;
}

const LIST = `
self=$$
IFS= read -r -d '' own_cgroup </proc/1/cgroup || true
for d in /proc/[0-9]*; do
  pid=\${d#/proc/}
  cgroup=''
  IFS= read -r -d '' cgroup <"$d/cgroup" 2>/dev/null || true
  [[ -n $cgroup && $cgroup == "$own_cgroup" ]] || continue
  ppid=''
  while read -r key value; do
    if [[ $key == PPid: ]]; then ppid=$value; break; fi
  done <"$d/status" 2>/dev/null
  [[ -n $ppid && $pid != "$self" && $ppid != "$self" ]] || continue
  title=''
  IFS= read -r -d '' title <"$d/cmdline" 2>/dev/null || true
  printf '%s\t%s\t%s\n' "$pid" "$ppid" "$title"
done
`;

async function bash(container: StartedTestContainer, script: string): Promise<string> {
  const result = await container.exec(["bash", "-c", script]);
  if (result.exitCode !== 0)
    throw new Error(`bash in the container failed (${result.exitCode}): ${result.stderr}`);
  return result.stdout;
}

export async function containerProcesses(container: StartedTestContainer): Promise<ContainerProcess[]> {
  const out = await bash(container, LIST);
  return out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [pid, ppid, title] = line.split("\t");
      return { pid: Number(pid), ppid: Number(ppid), title: (title ?? "").trim() };
    })
    .sort((a, b) => a.pid - b.pid);
}

/**
 * The kB fields of /proc/PID/smaps_rollup ("Rss", "Pss", ...) of each pid and its VmSize from
 * /proc/PID/status, read in one exec.
 */
export async function containerRollups(
  container: StartedTestContainer,
  pids: number[],
): Promise<Map<number, Record<string, number>>> {
  const script = `for pid in ${pids.join(" ")}; do echo "== $pid"; while IFS= read -r line; do echo "$line"; done </proc/$pid/smaps_rollup; while IFS= read -r line; do if [[ $line == VmSize:* ]]; then echo "$line"; fi; done </proc/$pid/status; done`;
  const rollups = new Map<number, Record<string, number>>();
  let current: Record<string, number> | undefined;
  for (const line of (await bash(container, script)).split("\n")) {
    const header = /^== (\d+)$/.exec(line);
    if (header) {
      current = {};
      rollups.set(Number(header[1]), current);
      continue;
    }
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (field && current) current[field[1] ?? ""] = Number(field[2]);
  }
  return rollups;
}
