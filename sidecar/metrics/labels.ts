/**
 * The cluster's labels on the metrics: backend_type, datname, usename and application_name of a
 * process, as label values. Their values come from the cluster (any role can set application_name), so
 * each label keeps at most a configured number of values per round and the rest become `other`.
 */
import type { ProcessLabels, ProcessSample } from "../history/sample.js";

export const LABEL_NAMES = ["backend_type", "datname", "usename", "application_name"] as const;
export type LabelName = (typeof LABEL_NAMES)[number];
export type LabelSet = Record<LabelName, string>;

/** The value that stands for every value past a label's cap. */
export const OTHER = "other";

/** Longer values are cut to this many characters (PostgreSQL's names are at most 63 bytes). */
export const MAX_LABEL_LENGTH = 128;

/** Default of --metrics-max-label-values. */
export const DEFAULT_MAX_LABEL_VALUES = 50;

/** A label value: "" for none (Prometheus treats an empty label as absent), cut to MAX_LABEL_LENGTH. */
export function labelValue(value: string | null): string {
  if (value === null) return "";
  if (value.length <= MAX_LABEL_LENGTH) return value;
  // Never cut a surrogate pair in two.
  const end = /[\uD800-\uDBFF]/.test(value[MAX_LABEL_LENGTH - 1] ?? "")
    ? MAX_LABEL_LENGTH - 1
    : MAX_LABEL_LENGTH;
  return value.slice(0, end);
}

/** The uncapped label values of a process. */
export function labelsOf(labels: ProcessLabels): LabelSet {
  return {
    backend_type: labelValue(labels.backendType),
    datname: labelValue(labels.datname),
    usename: labelValue(labels.usename),
    application_name: labelValue(labels.applicationName),
  };
}

interface Rank {
  pss: number;
  processes: number;
}

/**
 * The label sets of a round's processes, in their order, each label capped at `maxValues` values: the
 * values whose processes have the most PSS in the round (then the most processes, then by name) stay,
 * the others become `other`. The empty value (no database, no user) is never capped.
 */
export function cappedLabels(processes: readonly ProcessSample[], maxValues: number): LabelSet[] {
  const sets = processes.map((p) => labelsOf(p.labels));
  for (const name of LABEL_NAMES) {
    const ranks = new Map<string, Rank>();
    for (const [i, set] of sets.entries()) {
      const value = set[name];
      if (value === "") continue;
      const rank = ranks.get(value) ?? { pss: 0, processes: 0 };
      rank.pss += processes[i]?.pss ?? 0;
      rank.processes += 1;
      ranks.set(value, rank);
    }
    if (ranks.size <= maxValues) continue;
    const kept = new Set(
      [...ranks.entries()]
        .sort(([va, a], [vb, b]) => b.pss - a.pss || b.processes - a.processes || (va < vb ? -1 : 1))
        .slice(0, maxValues)
        .map(([value]) => value),
    );
    for (const set of sets) if (set[name] !== "" && !kept.has(set[name])) set[name] = OTHER;
  }
  return sets;
}
