import { describe, expect, it } from "vitest";
import { FakeSampleSource, growthOf, processSample, round } from "../../../harness/sample-fixtures.js";
import { Exposition, STALE_INTERVALS } from "../../../sidecar/metrics/exposition.js";
import { OTHER } from "../../../sidecar/metrics/labels.js";
import { parseExposition, samplesOf, sumOf } from "../../support/exposition-text.js";
import { checkMetrics } from "../../support/promtool.js";

const MB = 1024 * 1024;
const T0 = 1_700_000_000_000;

function exposition(topPids = 0, maxLabelValues = 50): Exposition {
  return new Exposition({ maxLabelValues, topPids, version: "9.9.9-test" });
}

async function textOf(e: Exposition) {
  return parseExposition(await e.text());
}

const HOSTILE = [
  'quote " and \\ backslash',
  "new\nline",
  "\\n is not a newline",
  "tab\there, cr\rthere",
  '}{,=" braces',
  "x".repeat(5000),
  "emoji 🐘 and é",
  "nul \u0000 byte",
];

describe("the exposition", () => {
  it("sums the processes of each label set, by memtype, and counts them", async () => {
    const e = exposition();
    const source = new FakeSampleSource(1000);
    const a = processSample(10, { applicationName: "api" }, { uss: 3 * MB, pss: 5 * MB, rss: 30 * MB });
    const b = processSample(11, { applicationName: "api" }, { uss: 1 * MB, pss: 2 * MB, rss: 25 * MB });
    const c = processSample(
      12,
      { applicationName: "etl", usename: "batch" },
      { swap: 7 * MB, pssShmem: 4 * MB },
    );
    const pm = processSample(1, {
      backendType: "postmaster",
      datname: null,
      usename: null,
      applicationName: null,
    });
    source.succeed(round([a, b, c, pm], T0));
    e.update({ health: source.health(), growth: [], ownUss: 42 * MB, now: T0 + 500 });
    const x = await textOf(e);
    const api = {
      backend_type: "client backend",
      datname: "postgres",
      usename: "postgres",
      application_name: "api",
    };
    expect(samplesOf(x, "pg_meminfo_memory_bytes", { ...api, memtype: "uss" })).toEqual([
      { name: "pg_meminfo_memory_bytes", labels: { memtype: "uss", ...api }, value: 4 * MB },
    ]);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { ...api, memtype: "pss" })).toBe(7 * MB);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { ...api, memtype: "rss" })).toBe(55 * MB);
    expect(sumOf(x, "pg_meminfo_processes", api)).toBe(2);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { application_name: "etl", memtype: "swap" })).toBe(7 * MB);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { application_name: "etl", memtype: "shared_buffers" })).toBe(
      4 * MB,
    );
    expect(sumOf(x, "pg_meminfo_memory_bytes", { application_name: "etl", memtype: "anon" })).toBe(2 * MB);
    // The postmaster's missing database, user and application are empty labels, not "null".
    expect(samplesOf(x, "pg_meminfo_processes", { backend_type: "postmaster" })[0]?.labels).toEqual({
      backend_type: "postmaster",
      datname: "",
      usename: "",
      application_name: "",
    });
    // Every memtype of every label set, and the sums add up to the cluster's.
    for (const memtype of ["uss", "pss", "rss", "anon", "swap", "shared_buffers"]) {
      expect(samplesOf(x, "pg_meminfo_memory_bytes", { memtype })).toHaveLength(3);
    }
    expect(sumOf(x, "pg_meminfo_cluster_pss_bytes")).toBe(a.pss + b.pss + c.pss + pm.pss);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { memtype: "pss" })).toBe(
      sumOf(x, "pg_meminfo_cluster_pss_bytes"),
    );
    expect(sumOf(x, "pg_meminfo_processes")).toBe(4);
    expect(sumOf(x, "pg_meminfo_sidecar_uss_bytes")).toBe(42 * MB);
    expect(samplesOf(x, "pg_meminfo_build_info")[0]?.labels).toEqual({
      version: "9.9.9-test",
      node_version: process.versions.node,
    });
    // Without the setting from the sampler, no shared memory figure rather than a made-up one.
    expect(samplesOf(x, "pg_meminfo_shared_memory_bytes")).toEqual([]);
    expect(x.types.get("pg_meminfo_memory_bytes")).toBe("gauge");
    expect(x.types.get("pg_meminfo_samples_failed_total")).toBe("counter");
  });

  it("adds up only the figures the kernel printed: a missing one (NaN) is no 0 and no NaN", async () => {
    const e = exposition(3);
    const source = new FakeSampleSource(1000);
    // An older kernel without Pss_Shmem; a process whose rollup was cut short.
    const old = processSample(10, { applicationName: "a" }, { pssShmem: Number.NaN });
    const cut = processSample(11, { applicationName: "a" }, { swap: Number.NaN, pss: Number.NaN });
    const alone = processSample(12, { applicationName: "b" }, { pssShmem: Number.NaN, uss: Number.NaN });
    source.succeed(round([old, cut, alone], T0));
    const growth = [{ ...growthOf(old, Number.NaN, true) }];
    e.update({ health: source.health(), growth, ownUss: null, now: T0 });
    const text = await e.text();
    expect(text).not.toMatch(/NaN/);
    const x = parseExposition(text);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { application_name: "a", memtype: "shared_buffers" })).toBe(
      cut.pssShmem,
    );
    expect(sumOf(x, "pg_meminfo_memory_bytes", { application_name: "a", memtype: "pss" })).toBe(old.pss);
    expect(
      samplesOf(x, "pg_meminfo_memory_bytes", { application_name: "b", memtype: "shared_buffers" }),
    ).toEqual([]);
    expect(sumOf(x, "pg_meminfo_cluster_pss_bytes")).toBe(old.pss + alone.pss);
    // The per-pid series: the process without a USS comes last, and has no uss series.
    expect(samplesOf(x, "pg_meminfo_process_memory_bytes", { pid: "12", memtype: "uss" })).toEqual([]);
    expect(samplesOf(x, "pg_meminfo_process_memory_bytes", { pid: "12", memtype: "rss" })).toHaveLength(1);
    expect(samplesOf(x, "pg_meminfo_growing_processes", { application_name: "a" })[0]?.value).toBe(0);
    expect(samplesOf(x, "pg_meminfo_top_growth_bytes_per_second")).toEqual([]);
  });

  it("shows shared_memory_size when the round has it", async () => {
    const e = exposition();
    const source = new FakeSampleSource(1000);
    source.succeed({ ...round([processSample(10)], T0), sharedMemoryBytes: 143 * MB });
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const x = await textOf(e);
    expect(sumOf(x, "pg_meminfo_shared_memory_bytes")).toBe(143 * MB);
    // An unknown own USS is absent, not 0.
    expect(samplesOf(x, "pg_meminfo_sidecar_uss_bytes")).toEqual([]);
  });

  it("escapes hostile label values so that they read back exactly, cut at 128 characters", async () => {
    const e = exposition();
    const source = new FakeSampleSource(1000);
    const processes = HOSTILE.map((name, i) =>
      processSample(100 + i, { applicationName: name, datname: name, usename: name, backendType: name }),
    );
    source.succeed(round(processes, T0));
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const text = await e.text();
    const x = parseExposition(text);
    const names = new Set(samplesOf(x, "pg_meminfo_processes").map((s) => s.labels.application_name));
    expect(names).toEqual(new Set(HOSTILE.map((h) => (h.length > 128 ? h.slice(0, 128) : h))));
    for (const s of samplesOf(x, "pg_meminfo_processes")) {
      expect(s.labels.datname).toBe(s.labels.application_name);
      expect(s.value).toBe(1);
    }
    // One sample per line: the newline in a value did not break a line.
    expect(text.split("\n").filter((l) => l.startsWith("pg_meminfo_processes{"))).toHaveLength(
      HOSTILE.length,
    );
    const check = await checkMetrics(text);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
  });

  it("keeps at most --metrics-max-label-values values per label, the biggest by PSS, the rest as other", async () => {
    const e = exposition(0, 5);
    const source = new FakeSampleSource(1000);
    // 200 applications; app-0..app-4 have the most PSS. One real "other" joins the bucket.
    const processes = Array.from({ length: 200 }, (_, i) =>
      processSample(1000 + i, { applicationName: `app-${i}`, usename: `u${i % 3}` }, { pss: (300 - i) * MB }),
    );
    processes.push(processSample(5000, { applicationName: OTHER }, { pss: MB }));
    processes.push(processSample(5001, { applicationName: "" }, { pss: MB }));
    source.succeed(round(processes, T0));
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const x = await textOf(e);
    const apps = samplesOf(x, "pg_meminfo_processes").map((s) => s.labels.application_name);
    expect(new Set(apps)).toEqual(new Set(["app-0", "app-1", "app-2", "app-3", "app-4", OTHER, ""]));
    expect(sumOf(x, "pg_meminfo_processes", { application_name: OTHER })).toBe(196);
    // Nothing lost: the bucket holds the rest.
    expect(sumOf(x, "pg_meminfo_processes")).toBe(202);
    expect(sumOf(x, "pg_meminfo_memory_bytes", { memtype: "pss" })).toBe(
      processes.reduce((sum, p) => sum + p.pss, 0),
    );
    // Three users: under the cap, all kept.
    expect(new Set(samplesOf(x, "pg_meminfo_processes").map((s) => s.labels.usename))).toEqual(
      new Set(["u0", "u1", "u2", "postgres"]),
    );
  });

  it("bounds the series whatever the number of distinct values", async () => {
    const e = exposition(0, 10);
    const source = new FakeSampleSource(1000);
    const processes = Array.from({ length: 3000 }, (_, i) =>
      processSample(1000 + i, {
        applicationName: `a${i}`,
        datname: `d${i}`,
        usename: `u${i}`,
        backendType: `bgworker ${i}`,
      }),
    );
    source.succeed(round(processes, T0));
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const x = await textOf(e);
    // Each label has at most 11 values (10 and other); here every process is its own label set.
    for (const label of ["application_name", "datname", "usename", "backend_type"]) {
      expect(new Set(samplesOf(x, "pg_meminfo_processes").map((s) => s.labels[label])).size).toBe(11);
    }
    expect(samplesOf(x, "pg_meminfo_processes").length).toBeLessThanOrEqual(11);
    expect(sumOf(x, "pg_meminfo_processes")).toBe(3000);
  });

  it("with --metrics-top-pids: series for the N processes with the most USS, with pid and backend_start", async () => {
    const e = exposition(2);
    const source = new FakeSampleSource(1000);
    const processes = [
      processSample(10, { applicationName: "small" }, { uss: 1 * MB }),
      processSample(
        11,
        { applicationName: "big", backendStart: Date.UTC(2024, 4, 1, 10, 0, 0) },
        { uss: 9 * MB },
      ),
      processSample(12, { applicationName: "middle", backendStart: null }, { uss: 5 * MB }),
    ];
    source.succeed(round(processes, T0));
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const x = await textOf(e);
    const top = samplesOf(x, "pg_meminfo_process_memory_bytes", { memtype: "uss" });
    expect(
      top.map((s) => [s.labels.pid, s.labels.backend_start, s.labels.application_name, s.value]),
    ).toEqual([
      ["11", "2024-05-01T10:00:00.000Z", "big", 9 * MB],
      ["12", "", "middle", 5 * MB],
    ]);
    expect(samplesOf(x, "pg_meminfo_process_memory_bytes")).toHaveLength(12);
    // Off by default: not even the metric's name.
    const off = exposition(0);
    off.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    expect(await off.text()).not.toContain("pg_meminfo_process_memory_bytes");
  });

  it("counts the growing processes by label set and shows the top growth rate", async () => {
    const e = exposition();
    const source = new FakeSampleSource(1000);
    const leaky = processSample(10, { applicationName: "leaky" });
    const leaky2 = processSample(11, { applicationName: "leaky" });
    const sorter = processSample(12, { applicationName: "sorter" });
    const idle = processSample(13, { applicationName: "idle" });
    const gone = processSample(14, { applicationName: "gone" });
    source.succeed(round([leaky, leaky2, sorter, idle], T0), []);
    const growth = [
      growthOf(leaky, 60 * MB, true),
      growthOf(leaky2, 30 * MB, true),
      // A one-off step: fast on average, not steady.
      growthOf(sorter, 120 * MB, false),
      growthOf(idle, 0, false),
      // Not in the latest round: not shown.
      growthOf(gone, 600 * MB, true),
    ];
    e.update({ health: source.health(), growth, ownUss: null, now: T0 });
    const x = await textOf(e);
    expect(sumOf(x, "pg_meminfo_growing_processes", { application_name: "leaky" })).toBe(2);
    expect(sumOf(x, "pg_meminfo_growing_processes", { application_name: "sorter" })).toBe(0);
    expect(sumOf(x, "pg_meminfo_growing_processes", { application_name: "idle" })).toBe(0);
    expect(sumOf(x, "pg_meminfo_growing_processes")).toBe(2);
    expect(sumOf(x, "pg_meminfo_growing_bytes_per_second", { application_name: "leaky" })).toBe(
      (90 * MB) / 60,
    );
    expect(samplesOf(x, "pg_meminfo_growing_processes", { application_name: "gone" })).toEqual([]);
    const top = samplesOf(x, "pg_meminfo_top_growth_bytes_per_second");
    expect(top).toHaveLength(1);
    expect(top[0]?.labels).toMatchObject({ application_name: "sorter", growing: "false" });
    expect(top[0]?.value).toBe((120 * MB) / 60);
  });

  it("shows the sampler's health: rounds, failures by reason, last sample time and duration", async () => {
    const e = exposition();
    const source = new FakeSampleSource(2000);
    source.succeed(round([processSample(10)], T0, 35));
    source.fail("database", T0 + 2000);
    source.fail("database", T0 + 4000);
    source.fail("busy", T0 + 5000);
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 + 5100 });
    const x = await textOf(e);
    expect(sumOf(x, "pg_meminfo_samples_total")).toBe(1);
    expect(samplesOf(x, "pg_meminfo_samples_failed_total").map((s) => [s.labels.reason, s.value])).toEqual([
      ["database", 2],
      ["proc", 0],
      ["busy", 1],
    ]);
    expect(sumOf(x, "pg_meminfo_last_sample_timestamp_seconds")).toBe(T0 / 1000);
    expect(sumOf(x, "pg_meminfo_last_sample_duration_seconds")).toBe(0.035);
    expect(sumOf(x, "pg_meminfo_sample_interval_seconds")).toBe(2);
    // 5.1 s after the round's start, under three intervals of 2 s: still shown.
    expect(sumOf(x, "pg_meminfo_sample_fresh")).toBe(1);
    expect(sumOf(x, "pg_meminfo_processes")).toBe(1);
  });

  it(`leaves the memory series out once the latest good round is ${STALE_INTERVALS} intervals old`, async () => {
    const e = exposition(3);
    const source = new FakeSampleSource(1000);
    source.succeed({ ...round([processSample(10)], T0), sharedMemoryBytes: MB }, [
      growthOf(processSample(10), MB, true),
    ]);
    e.update({ health: source.health(), growth: [], ownUss: 5 * MB, now: T0 + 1000 });
    expect(sumOf(await textOf(e), "pg_meminfo_sample_fresh")).toBe(1);
    for (let i = 1; i <= 4; i++) source.fail("database", T0 + i * 1000);
    e.update({ health: source.health(), growth: [], ownUss: 5 * MB, now: T0 + STALE_INTERVALS * 1000 + 1 });
    const x = await textOf(e);
    expect(sumOf(x, "pg_meminfo_sample_fresh")).toBe(0);
    for (const name of [
      "pg_meminfo_memory_bytes",
      "pg_meminfo_processes",
      "pg_meminfo_cluster_pss_bytes",
      "pg_meminfo_shared_memory_bytes",
      "pg_meminfo_process_memory_bytes",
      "pg_meminfo_growing_processes",
      "pg_meminfo_growing_bytes_per_second",
      "pg_meminfo_top_growth_bytes_per_second",
    ]) {
      expect(samplesOf(x, name), name).toEqual([]);
    }
    // The health stays, and says what happened.
    expect(sumOf(x, "pg_meminfo_samples_failed_total", { reason: "database" })).toBe(4);
    expect(sumOf(x, "pg_meminfo_last_sample_timestamp_seconds")).toBe(T0 / 1000);
    expect(sumOf(x, "pg_meminfo_sidecar_uss_bytes")).toBe(5 * MB);
    // A round again: the series come back.
    source.succeed(round([processSample(10)], T0 + 5000));
    e.update({ health: source.health(), growth: [], ownUss: 5 * MB, now: T0 + 5010 });
    expect(sumOf(await textOf(e), "pg_meminfo_processes")).toBe(1);
  });

  it("before the first round: health only, no memory series, no last sample time", async () => {
    const e = exposition();
    const source = new FakeSampleSource(1000);
    source.fail("proc", T0);
    e.update({ health: source.health(), growth: [], ownUss: null, now: T0 });
    const text = await e.text();
    const x = parseExposition(text);
    expect(samplesOf(x, "pg_meminfo_memory_bytes")).toEqual([]);
    expect(samplesOf(x, "pg_meminfo_last_sample_timestamp_seconds")).toEqual([]);
    expect(sumOf(x, "pg_meminfo_samples_failed_total", { reason: "proc" })).toBe(1);
    expect(sumOf(x, "pg_meminfo_sample_fresh")).toBe(0);
    expect((await checkMetrics(text)).code).toBe(0);
  });

  it("never shows query text or anything but the labels it names", async () => {
    const e = exposition(5);
    const source = new FakeSampleSource(1000);
    const p = processSample(10, { applicationName: "app" });
    // A sample carrying more than the interface has (a query, say) must not leak into a label.
    (p as unknown as Record<string, unknown>).query = "SELECT secret FROM payroll";
    (p.labels as unknown as Record<string, unknown>).query = "SELECT secret FROM payroll";
    source.succeed(round([p], T0), [growthOf(p, MB, true)]);
    e.update({ health: source.health(), growth: [growthOf(p, MB, true)], ownUss: null, now: T0 });
    const text = await e.text();
    expect(text).not.toContain("secret");
    const labels = new Set(parseExposition(text).samples.flatMap((s) => Object.keys(s.labels)));
    expect(labels).toEqual(
      new Set([
        "memtype",
        "backend_type",
        "datname",
        "usename",
        "application_name",
        "pid",
        "backend_start",
        "growing",
        "reason",
        "version",
        "node_version",
      ]),
    );
  });

  it("passes promtool check metrics with every metric present", async () => {
    const e = exposition(3);
    const source = new FakeSampleSource(1000);
    const p = processSample(10);
    source.succeed({ ...round([p, processSample(11)], T0), sharedMemoryBytes: MB });
    e.update({ health: source.health(), growth: [growthOf(p, MB, true)], ownUss: MB, now: T0 });
    const text = await e.text();
    const check = await checkMetrics(text);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    // Base units, _bytes and _seconds suffixes, counters as _total.
    for (const name of parseExposition(text).types.keys()) expect(name).toMatch(/^pg_meminfo_[a-z_]+$/);
  });
});
