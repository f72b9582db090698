/**
 * The sampler reads every process once a round, each at its own instant (sampled_at): sums over the
 * cluster are made per round, not per timestamp. A round is a run of samples with no gap longer than
 * half the sampling interval, which is the median gap between two samples of one process.
 */

export interface Sample {
  pid: number;
  /** ms since the epoch */
  at: number;
  pssBytes: number;
  ussBytes: number;
}

export interface RoundTotal {
  /** The round's first sample, ms since the epoch. */
  at: number;
  processes: number;
  pssBytes: number;
  ussBytes: number;
}

/** The median time between two consecutive samples of one process, in ms; null with too few samples. */
export function samplingInterval(samples: readonly Sample[]): number | null {
  const byPid = new Map<number, number[]>();
  for (const s of samples) {
    let list = byPid.get(s.pid);
    if (list === undefined) {
      list = [];
      byPid.set(s.pid, list);
    }
    list.push(s.at);
  }
  const gaps: number[] = [];
  for (const times of byPid.values()) {
    times.sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) gaps.push((times[i] as number) - (times[i - 1] as number));
  }
  if (gaps.length === 0) return null;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] as number;
}

/** The cluster's totals per round, oldest first. */
export function roundTotals(samples: readonly Sample[]): RoundTotal[] {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  const interval = samplingInterval(sorted);
  const gap = interval === null ? Number.POSITIVE_INFINITY : interval / 2;
  const rounds: RoundTotal[] = [];
  let current: (RoundTotal & { last: number; pids: Set<number> }) | null = null;
  for (const s of sorted) {
    // A second sample of a process also starts a round (a very short interval).
    if (current === null || s.at - current.last > gap || current.pids.has(s.pid)) {
      if (current) rounds.push(strip(current));
      current = { at: s.at, processes: 0, pssBytes: 0, ussBytes: 0, last: s.at, pids: new Set() };
    }
    current.processes++;
    current.pssBytes += s.pssBytes;
    current.ussBytes += s.ussBytes;
    current.last = s.at;
    current.pids.add(s.pid);
  }
  if (current) rounds.push(strip(current));
  return rounds;
}

function strip(r: RoundTotal): RoundTotal {
  return { at: r.at, processes: r.processes, pssBytes: r.pssBytes, ussBytes: r.ussBytes };
}
