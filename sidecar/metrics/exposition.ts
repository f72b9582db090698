/**
 * The metrics in the Prometheus text format, with prom-client: set from what the sampler knows
 * (`update`), formatted on each scrape (`text`). Nothing here reads /proc or asks the cluster.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Growth, SampleFailure, SampleRound, SamplerHealth } from "../history/sample.js";
import { groupByLabels, type LabelGroup, MEMTYPES, topProcesses } from "./aggregate.js";
import { cappedLabels, LABEL_NAMES, type LabelSet } from "./labels.js";

export interface ExpositionSettings {
  /** Values kept per label and round; the rest become `other`. */
  maxLabelValues: number;
  /** Per-pid series for this many processes with the most USS; 0 for none. */
  topPids: number;
  /** The sidecar's version, for pg_meminfo_build_info. */
  version: string;
}

/** What the exposition is made from at one moment. */
export interface Observation {
  health: SamplerHealth;
  /** SampleSource.growth over the growth window, for the latest round. */
  growth: readonly Growth[];
  /** The sidecar's own USS in bytes, null when unknown. */
  ownUss: number | null;
  /** Now, ms since the epoch. */
  now: number;
}

/** The memory series are left out when the latest good round started more than this many intervals ago. */
export const STALE_INTERVALS = 3;

const REASONS: readonly SampleFailure[] = ["database", "proc", "busy"];

/** Whether the latest round is fresh enough to show its figures. */
export function isFresh(health: SamplerHealth, now: number): boolean {
  const latest = health.latest;
  if (latest === null || health.intervalMs <= 0) return false;
  return now - latest.startedAt <= STALE_INTERVALS * health.intervalMs;
}

export class Exposition {
  readonly registry = new Registry();
  private readonly memory: Gauge;
  private readonly processes: Gauge;
  private readonly clusterPss: Gauge;
  private readonly sharedMemory: Gauge;
  private readonly processMemory: Gauge | undefined;
  private readonly growing: Gauge;
  private readonly growingRate: Gauge;
  private readonly topGrowth: Gauge;
  private readonly fresh: Gauge;
  private readonly interval: Gauge;
  private readonly samples: Counter;
  private readonly failed: Counter;
  private readonly lastSample: Gauge;
  private readonly duration: Gauge;
  private readonly ownUss: Gauge;

  constructor(private readonly settings: ExpositionSettings) {
    const registers = [this.registry];
    const labelNames = [...LABEL_NAMES];
    this.memory = new Gauge({
      name: "pg_meminfo_memory_bytes",
      help:
        "Memory of the cluster's processes with these labels, by memtype: uss (their own), pss, rss (counts " +
        "shared pages once per process: do not sum), anon, swap, shared_buffers (their proportional share of " +
        "shared memory)",
      labelNames: ["memtype", ...labelNames],
      registers,
    });
    this.processes = new Gauge({
      name: "pg_meminfo_processes",
      help: "The cluster's processes with these labels",
      labelNames,
      registers,
    });
    this.clusterPss = new Gauge({
      name: "pg_meminfo_cluster_pss_bytes",
      help: "PSS of every process of the cluster: what the cluster costs the host",
      registers,
    });
    this.sharedMemory = new Gauge({
      name: "pg_meminfo_shared_memory_bytes",
      help: "The cluster's shared_memory_size setting: its main shared memory segment",
      registers,
    });
    if (settings.topPids > 0) {
      this.processMemory = new Gauge({
        name: "pg_meminfo_process_memory_bytes",
        help: `Memory of the ${settings.topPids} processes with the most USS, by memtype (high cardinality: a series per process)`,
        labelNames: ["pid", "backend_start", "memtype", ...labelNames],
        registers,
      });
    }
    this.growing = new Gauge({
      name: "pg_meminfo_growing_processes",
      help: "Processes whose own memory grows steadily over the growth window (memory_growth's growing flag)",
      labelNames,
      registers,
    });
    this.growingRate = new Gauge({
      name: "pg_meminfo_growing_bytes_per_second",
      help: "How fast the growing processes with these labels grow together, bytes per second",
      labelNames,
      registers,
    });
    this.topGrowth = new Gauge({
      name: "pg_meminfo_top_growth_bytes_per_second",
      help: "The fastest growth of any process's own memory over the growth window, with its labels (growing or not)",
      labelNames: [...labelNames, "growing"],
      registers,
    });
    this.fresh = new Gauge({
      name: "pg_meminfo_sample_fresh",
      help: `1 when the memory series are from a round that started less than ${STALE_INTERVALS} sample intervals ago, 0 when they are left out`,
      registers,
    });
    this.interval = new Gauge({
      name: "pg_meminfo_sample_interval_seconds",
      help: "The sampler's interval (--sample-interval)",
      registers,
    });
    this.samples = new Counter({
      name: "pg_meminfo_samples_total",
      help: "Sample rounds that succeeded since the sidecar started",
      registers,
    });
    this.failed = new Counter({
      name: "pg_meminfo_samples_failed_total",
      help: "Sample rounds that failed since the sidecar started, by reason: database, proc (unreadable /proc), busy (the read bound was full)",
      labelNames: ["reason"],
      registers,
    });
    this.lastSample = new Gauge({
      name: "pg_meminfo_last_sample_timestamp_seconds",
      help: "When the latest round that succeeded started, seconds since the epoch",
      registers,
    });
    this.duration = new Gauge({
      name: "pg_meminfo_last_sample_duration_seconds",
      help: "How long the latest round that succeeded took",
      registers,
    });
    this.ownUss = new Gauge({
      name: "pg_meminfo_sidecar_uss_bytes",
      help: "The sidecar's own USS (Private_Clean + Private_Dirty of its smaps_rollup), read once per sample round",
      registers,
    });
    new Gauge({
      name: "pg_meminfo_build_info",
      help: "The sidecar's version and the Node.js it runs on",
      labelNames: ["version", "node_version"],
      registers,
    }).set({ version: settings.version, node_version: process.versions.node }, 1);
    this.update({
      health: {
        intervalMs: 0,
        latest: null,
        rounds: 0,
        failures: { database: 0, proc: 0, busy: 0 },
        lastFailure: null,
      },
      growth: [],
      ownUss: null,
      now: Date.now(),
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Sets every metric from an observation; series of processes no longer there go away. */
  update({ health, growth, ownUss, now }: Observation): void {
    this.interval.set(health.intervalMs / 1000);
    this.samples.reset();
    this.samples.inc(health.rounds);
    this.failed.reset();
    for (const reason of REASONS) this.failed.inc({ reason }, health.failures[reason] ?? 0);
    setOrRemove(this.ownUss, ownUss);
    const latest = health.latest;
    setOrRemove(this.lastSample, latest === null ? null : latest.startedAt / 1000);
    setOrRemove(this.duration, latest === null ? null : latest.durationMs / 1000);
    const fresh = isFresh(health, now);
    this.fresh.set(fresh ? 1 : 0);
    for (const gauge of [this.memory, this.processes, this.growing, this.growingRate, this.topGrowth]) {
      gauge.reset();
    }
    this.processMemory?.reset();
    if (latest === null || !fresh) {
      this.clusterPss.remove();
      this.sharedMemory.remove();
      return;
    }
    this.showRound(latest, growth);
  }

  private showRound(round: SampleRound, growth: readonly Growth[]): void {
    const sets = cappedLabels(round.processes, this.settings.maxLabelValues);
    const groups = groupByLabels(round.processes, sets);
    let clusterPss = 0;
    for (const group of groups) {
      this.processes.set(group.labels, group.processes);
      for (const memtype of MEMTYPES) {
        const bytes = group.bytes[memtype];
        if (bytes !== undefined) this.memory.set({ memtype, ...group.labels }, bytes);
      }
      clusterPss += group.bytes.pss ?? 0;
    }
    this.clusterPss.set(clusterPss);
    setOrRemove(this.sharedMemory, round.sharedMemoryBytes ?? null);
    this.showGrowth(round, sets, groups, growth);
    if (this.processMemory === undefined) return;
    for (const top of topProcesses(round.processes, this.settings.topPids)) {
      for (const memtype of MEMTYPES) {
        if (!Number.isFinite(top.bytes[memtype])) continue;
        this.processMemory.set(
          { pid: String(top.pid), backend_start: top.backendStart, memtype, ...top.labels },
          top.bytes[memtype],
        );
      }
    }
  }

  /** Growth by the round's capped labels: every label group has a count, 0 when nothing in it grows. */
  private showGrowth(
    round: SampleRound,
    sets: readonly LabelSet[],
    groups: readonly LabelGroup[],
    growth: readonly Growth[],
  ): void {
    for (const group of groups) {
      this.growing.set(group.labels, 0);
      this.growingRate.set(group.labels, 0);
    }
    const labelsByProcess = new Map<string, LabelSet>();
    for (const [i, p] of round.processes.entries()) {
      labelsByProcess.set(`${p.pid}/${p.startTicks}`, sets[i] as LabelSet);
    }
    let top: { growth: Growth; labels: LabelSet } | undefined;
    for (const g of growth) {
      const labels = labelsByProcess.get(`${g.pid}/${g.startTicks}`);
      // Growth of a process that is not in the latest round: gone, not shown.
      if (labels === undefined || !Number.isFinite(g.bytesPerMinute) || g.samples < 2) continue;
      if (top === undefined || g.bytesPerMinute > top.growth.bytesPerMinute) top = { growth: g, labels };
      if (!g.growing) continue;
      this.growing.inc(labels, 1);
      this.growingRate.inc(labels, g.bytesPerMinute / 60);
    }
    if (top !== undefined) {
      this.topGrowth.set(
        { ...top.labels, growing: String(top.growth.growing) },
        top.growth.bytesPerMinute / 60,
      );
    }
  }
}

/** Sets an unlabelled gauge, or leaves it without a value (a series that is absent, not 0). */
function setOrRemove(gauge: Gauge, value: number | null): void {
  if (value === null || !Number.isFinite(value)) gauge.remove();
  else gauge.set(value);
}
