/**
 * A SampleSource made of fixture rounds, for the metrics' unit tests and the scrape benchmark: the
 * test sets its health and growth as the sampler would.
 */
import type {
  Growth,
  ProcessLabels,
  ProcessSample,
  SampleFailure,
  SampleRound,
  SamplerHealth,
  SampleSource,
} from "../sidecar/history/sample.js";

const MB = 1024 * 1024;

/** A process sample with plausible figures; `overrides` win. */
export function processSample(
  pid: number,
  labels: Partial<ProcessLabels> = {},
  overrides: Partial<Omit<ProcessSample, "labels">> = {},
): ProcessSample {
  return {
    pid,
    startTicks: 1000 + pid,
    sampledAt: 1_700_000_000_000,
    rss: 20 * MB,
    pss: 6 * MB,
    pssAnon: 2 * MB,
    pssShmem: 3 * MB,
    uss: 2 * MB,
    anonymous: 2 * MB,
    swap: 0,
    ...overrides,
    labels: {
      backendType: "client backend",
      datname: "postgres",
      usename: "postgres",
      applicationName: "psql",
      backendStart: 1_700_000_000_000 - 60_000,
      ...labels,
    },
  };
}

export function round(
  processes: ProcessSample[],
  startedAt = 1_700_000_000_000,
  durationMs = 12,
): SampleRound {
  return { startedAt, durationMs, processes };
}

/** A growth entry of a process of `round`, `bytesPerMinute` fast. */
export function growthOf(p: ProcessSample, bytesPerMinute: number, growing: boolean): Growth {
  return {
    pid: p.pid,
    startTicks: p.startTicks,
    labels: p.labels,
    samples: 30,
    firstSampledAt: p.sampledAt - 300_000,
    lastSampledAt: p.sampledAt,
    firstBytes: p.uss,
    lastBytes: p.uss + bytesPerMinute * 5,
    bytesPerMinute,
    r2: growing ? 0.99 : 0.1,
    growing,
  };
}

/** The rounds of `processes` backends of a busy cluster: a few kinds, databases, users and applications. */
export function busyRound(processes: number, startedAt = 1_700_000_000_000): SampleRound {
  const samples: ProcessSample[] = [];
  const aux = ["postmaster", "checkpointer", "background writer", "walwriter", "autovacuum launcher"];
  for (const [i, backendType] of aux.entries()) {
    samples.push(processSample(100 + i, { backendType, datname: null, usename: null, applicationName: "" }));
  }
  for (let i = 0; i < processes - aux.length; i++) {
    samples.push(
      processSample(
        1000 + i,
        { datname: `db${i % 4}`, usename: `user${i % 7}`, applicationName: `app-${i % 30}` },
        { uss: (1 + (i % 13)) * MB, pss: (4 + (i % 13)) * MB },
      ),
    );
  }
  return round(samples, startedAt);
}

export class FakeSampleSource implements SampleSource {
  private state: SamplerHealth;
  private growthEntries: Growth[] = [];
  /** How often growth() was asked, and with which windows. */
  readonly growthCalls: number[] = [];

  constructor(intervalMs = 1000) {
    this.state = {
      intervalMs,
      latest: null,
      rounds: 0,
      failures: { database: 0, proc: 0, busy: 0 },
      lastFailure: null,
    };
  }

  health(): SamplerHealth {
    return this.state;
  }

  growth(windowMs: number): Growth[] {
    this.growthCalls.push(windowMs);
    return this.growthEntries;
  }

  /** A round succeeded. */
  succeed(round: SampleRound, growth: Growth[] = []): void {
    this.state = { ...this.state, latest: round, rounds: this.state.rounds + 1, lastFailure: null };
    this.growthEntries = growth;
  }

  /** A round failed. */
  fail(reason: SampleFailure, at: number, message = `the ${reason} failed`): void {
    this.state = {
      ...this.state,
      failures: { ...this.state.failures, [reason]: this.state.failures[reason] + 1 },
      lastFailure: { at, reason, message },
    };
  }
}
