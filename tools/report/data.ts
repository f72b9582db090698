/**
 * What the report shows, read in one go: the cluster now (cluster_memory, backend_memory), memory by
 * kind of its biggest processes (backend_memory_by_kind), the history window (memory_history), who
 * grows (memory_growth) and, for the fastest growers, which memory contexts grow
 * (memory_context_growth over a short interval, read for up to three processes at once on their own
 * connections; without that function, their largest contexts now from backend_memory_contexts_top).
 * A part the extension lacks, or that fails, becomes a note saying why.
 */
import type pg from "pg";
import { connect } from "../connection.js";
import {
  type Extension,
  findExtension,
  hasFunction,
  hasRelation,
  missingObject,
  qualified,
} from "../extension.js";
import { type RoundTotal, roundTotals, type Sample, samplingInterval } from "./rounds.js";

/** Processes in the kinds chart, and sessions in the history chart. */
const TOP_KINDS = 8;
const TOP_SESSIONS = 5;
/** Growing processes whose contexts are read. */
const TOP_GROWING = 3;
/** Growth per minute worth showing when it is not steady: memory_growth's own floor for steady growth. */
const NOTABLE_GROWTH = 65536;

export interface ProcessLabel {
  pid: number;
  /** "4242 etl-nightly" or "4242 checkpointer". */
  label: string;
}

export interface Note {
  note: string;
}

export interface ContextEntry {
  name: string;
  /** Growth over the interval (memory_context_growth), or null when only the size now is known. */
  growthBytes: number | null;
  bytes: number;
}

export interface GrowthEntry extends ProcessLabel {
  bytesPerMinute: number;
  r2: number | null;
  samples: number;
  firstBytes: number;
  lastBytes: number;
  growing: boolean;
  contexts: ContextEntry[] | Note | null;
}

export interface ReportData {
  takenAt: number;
  server: string;
  database: string;
  extensionVersion: string;
  cluster: {
    processes: number;
    totalPssBytes: number;
    totalUssBytes: number;
    totalRssBytes: number;
    sharedMemoryBytes: number;
    memoryLimitBytes: number | null;
    headroomBytes: number | null;
  };
  top: (ProcessLabel & {
    backendType: string;
    state: string;
    ussBytes: number;
    pssBytes: number;
    sharedBuffersBytes: number;
  })[];
  kinds: { processes: ProcessLabel[]; kinds: string[]; pssBytes: number[][] };
  history:
    | Note
    | {
        from: number;
        to: number;
        intervalMs: number | null;
        rounds: RoundTotal[];
        sessions: (ProcessLabel & { points: [number, number][] })[];
      };
  growth: Note | { windowMinutes: number; contextsHow: string; processes: GrowthEntry[] };
}

export interface ReportOptions {
  /** Seconds memory_context_growth watches each growing process. */
  contextSeconds: number;
}

const n = (v: unknown): number => Number(v ?? 0);
const orNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const label = (pid: number, app: unknown, type: unknown) =>
  `${pid} ${app ? String(app) : String(type ?? "")}`.trim();
const noteOf = (err: unknown): Note => {
  const e = err as { code?: string; message?: string };
  return { note: `${e.code ? `${e.code} ` : ""}${e.message ?? String(err)}` };
};

export async function readReport(config: pg.ClientConfig, options: ReportOptions): Promise<ReportData> {
  const db = await connect(config);
  try {
    const ext = await findExtension(db);
    if (ext === null)
      throw new Error("pg_meminfo is not created in this database: CREATE EXTENSION pg_meminfo;");
    const { rows: about } = await db.query<{ version: string; db: string; now: Date }>(
      "SELECT current_setting('server_version') AS version, current_database() AS db, now() AS now",
    );
    const top = await readTop(db, ext);
    const [cluster, kinds, history, growth] = [
      await readCluster(db, ext),
      await readKinds(db, ext, top.slice(0, TOP_KINDS)),
      await readHistory(db, ext).catch(noteOf),
      await readGrowth(db, ext, config, options).catch(noteOf),
    ];
    return {
      takenAt: (about[0]?.now ?? new Date()).getTime(),
      server: `PostgreSQL ${about[0]?.version}`,
      database: String(about[0]?.db),
      extensionVersion: ext.version,
      cluster,
      top,
      kinds,
      history,
      growth,
    };
  } finally {
    await db.end().catch(() => {});
  }
}

async function readTop(db: pg.Client, ext: Extension): Promise<ReportData["top"]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT pid, backend_type, application_name, state, uss_bytes, pss_bytes, shared_buffers_bytes
       FROM ${qualified(ext, "backend_memory")} ORDER BY uss_bytes DESC, pid`,
  );
  return rows.map((r) => ({
    pid: n(r.pid),
    label: label(n(r.pid), r.application_name, r.backend_type),
    backendType: String(r.backend_type ?? ""),
    state: String(r.state ?? ""),
    ussBytes: n(r.uss_bytes),
    pssBytes: n(r.pss_bytes),
    sharedBuffersBytes: n(r.shared_buffers_bytes),
  }));
}

async function readCluster(db: pg.Client, ext: Extension): Promise<ReportData["cluster"]> {
  const limits = await hasRelation(db, ext, "memory_limits");
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT processes, total_pss_bytes, total_uss_bytes, total_rss_bytes, shared_memory_size_bytes,
            ${limits ? "memory_limit_bytes, headroom_bytes" : "NULL AS memory_limit_bytes, NULL AS headroom_bytes"}
       FROM ${qualified(ext, "cluster_memory")}`,
  );
  const r = rows[0] ?? {};
  return {
    processes: n(r.processes),
    totalPssBytes: n(r.total_pss_bytes),
    totalUssBytes: n(r.total_uss_bytes),
    totalRssBytes: n(r.total_rss_bytes),
    sharedMemoryBytes: n(r.shared_memory_size_bytes),
    memoryLimitBytes: orNull(r.memory_limit_bytes),
    headroomBytes: orNull(r.headroom_bytes),
  };
}

async function readKinds(
  db: pg.Client,
  ext: Extension,
  processes: ProcessLabel[],
): Promise<ReportData["kinds"]> {
  const pids = processes.map((p) => p.pid);
  const { rows } = await db.query<{ pid: number; kind: string; pss_bytes: unknown }>(
    `SELECT pid, kind, pss_bytes FROM ${qualified(ext, "backend_memory_by_kind")} WHERE pid = ANY ($1::int[])`,
    [pids],
  );
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.kind, (totals.get(r.kind) ?? 0) + n(r.pss_bytes));
  const kinds = [...totals.entries()]
    .filter(([, b]) => b > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k]) => k);
  const pssBytes = kinds.map((kind) =>
    pids.map((pid) => n(rows.find((r) => r.pid === pid && r.kind === kind)?.pss_bytes)),
  );
  return { processes: processes.map(({ pid, label }) => ({ pid, label })), kinds, pssBytes };
}

async function readHistory(db: pg.Client, ext: Extension): Promise<ReportData["history"]> {
  if (!(await hasRelation(db, ext, "memory_history"))) {
    return { note: `history not available: ${missingObject(ext, "memory_history")}` };
  }
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT pid, (extract(epoch FROM sampled_at) * 1000)::float8 AS at, pss_bytes, uss_bytes,
            application_name, backend_type, (extract(epoch FROM backend_start) * 1000)::float8 AS started
       FROM ${qualified(ext, "memory_history")} ORDER BY sampled_at`,
  );
  if (rows.length === 0) {
    return {
      note: "history is empty: the sidecar samples nothing (started with --sample-interval 0) or has only just started",
    };
  }
  const samples: Sample[] = rows.map((r) => ({
    pid: n(r.pid),
    at: n(r.at),
    pssBytes: n(r.pss_bytes),
    ussBytes: n(r.uss_bytes),
  }));
  const rounds = roundTotals(samples);
  // A process is its pid and its start: a reused pid is another line.
  const series = new Map<string, ProcessLabel & { points: [number, number][] }>();
  for (const r of rows) {
    const key = `${r.pid}/${r.started}`;
    let s = series.get(key);
    if (s === undefined) {
      s = { pid: n(r.pid), label: "", points: [] };
      series.set(key, s);
    }
    s.label = label(n(r.pid), r.application_name, r.backend_type);
    s.points.push([n(r.at), n(r.uss_bytes)]);
  }
  const last = rounds.at(-1)?.at ?? 0;
  const sessions = [...series.values()]
    .filter((s) => (s.points.at(-1)?.[0] ?? 0) >= last)
    .sort((a, b) => (b.points.at(-1)?.[1] ?? 0) - (a.points.at(-1)?.[1] ?? 0))
    .slice(0, TOP_SESSIONS);
  return {
    from: samples[0]?.at ?? 0,
    to: samples.at(-1)?.at ?? 0,
    intervalMs: samplingInterval(samples),
    rounds,
    sessions,
  };
}

async function readGrowth(
  db: pg.Client,
  ext: Extension,
  config: pg.ClientConfig,
  options: ReportOptions,
): Promise<ReportData["growth"]> {
  if (!(await hasRelation(db, ext, "memory_growth"))) {
    return { note: `growth not available: ${missingObject(ext, "memory_growth")}` };
  }
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT pid, application_name, backend_type, samples, first_bytes, last_bytes, bytes_per_minute, r2, growing
       FROM ${qualified(ext, "memory_growth")} WHERE growing OR bytes_per_minute >= $1
      ORDER BY growing DESC, bytes_per_minute DESC LIMIT 10`,
    [NOTABLE_GROWTH],
  );
  const processes: GrowthEntry[] = rows.map((r) => ({
    pid: n(r.pid),
    label: label(n(r.pid), r.application_name, r.backend_type),
    bytesPerMinute: n(r.bytes_per_minute),
    r2: orNull(r.r2),
    samples: n(r.samples),
    firstBytes: n(r.first_bytes),
    lastBytes: n(r.last_bytes),
    growing: r.growing === true,
    contexts: null,
  }));
  const growing = processes.filter((p) => p.growing).slice(0, TOP_GROWING);
  const watch = await hasFunction(db, ext, "memory_context_growth");
  const contextsHow = watch
    ? `the contexts that grew while memory_context_growth watched each of the ${TOP_GROWING} fastest growers for ${options.contextSeconds} s`
    : `the largest contexts now (backend_memory_contexts_top): ${missingObject(ext, "memory_context_growth")}`;
  await Promise.all(
    growing.map(async (p) => {
      p.contexts = watch
        ? await contextGrowth(config, ext, p.pid, options.contextSeconds).catch(noteOf)
        : await largestContexts(db, ext, p.pid).catch(noteOf);
    }),
  );
  return { windowMinutes: 10, contextsHow, processes };
}

/** memory_context_growth on a connection of its own: it holds a transaction open while it waits. */
async function contextGrowth(config: pg.ClientConfig, ext: Extension, pid: number, seconds: number) {
  const db = await connect({ ...config, application_name: "pg-meminfo report" });
  try {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT coalesce(name, 'child contexts of ' || path[cardinality(path) - 1]) AS name, growth_bytes, bytes_after
         FROM ${qualified(ext, "memory_context_growth")}($1, make_interval(secs => $2))
        WHERE growth_bytes > 0 ORDER BY growth_bytes DESC LIMIT 5`,
      [pid, seconds],
    );
    return rows.map((r) => ({
      name: String(r.name),
      growthBytes: n(r.growth_bytes),
      bytes: n(r.bytes_after),
    }));
  } finally {
    await db.end().catch(() => {});
  }
}

async function largestContexts(db: pg.Client, ext: Extension, pid: number): Promise<ContextEntry[] | Note> {
  if (!(await hasRelation(db, ext, "backend_memory_contexts_top")))
    return { note: missingObject(ext, "backend_memory_contexts_top") };
  const { rows } = await db.query<{ names: string[] | null; bytes: string[] | null }>(
    `SELECT largest_contexts AS names, largest_contexts_bytes AS bytes
       FROM ${qualified(ext, "backend_memory_contexts_top")} WHERE pid = $1`,
    [pid],
  );
  const r = rows[0];
  return (r?.names ?? []).map((name, i) => ({ name, growthBytes: null, bytes: n(r?.bytes?.[i]) }));
}
