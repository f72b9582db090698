/**
 * The stats part of a memory-context dump line, as each allocator prints it (verified against the
 * stats functions of REL_15_STABLE .. REL_18_STABLE):
 *   AllocSet (aset.c), and Slab on 15 (slab.c): `%zu total in %zu blocks; %zu free (%zu chunks); %zu used`
 *   Generation (generation.c):  `%zu total in %zu blocks (%zu chunks); %zu free (%zu chunks); %zu used`
 *   Slab on 16+ (slab.c):       `%zu total in %zu blocks; %u empty blocks; %zu free (%zu chunks); %zu used`
 *   Bump on 17+ (bump.c):       `%zu total in %zu blocks; %zu free; %zu used`
 * Byte counts stay decimal strings: a size_t does not fit a JavaScript number above 2^53.
 */

export type ContextType = "AllocSet" | "Generation" | "Slab" | "Bump";

export interface ContextStats {
  totalBytes: string;
  totalNblocks: string;
  freeBytes: string;
  freeChunks: string;
  usedBytes: string;
}

export interface TypedStats extends ContextStats {
  /** The allocator, where the stats format tells it; null where two allocators print alike. */
  type: ContextType | null;
}

const SIZE_MAX = (1n << 64n) - 1n;
const NUM = "(0|[1-9]\\d{0,19})";

/** `: <stats>` followed by the end or by `: <ident>`; global, to try every candidate position. */
const STATS_AFTER_NAME = new RegExp(
  `: ${NUM} total in ${NUM} blocks(?: \\(${NUM} chunks\\))?; (?:${NUM} empty blocks; )?${NUM} free(?: \\(${NUM} chunks\\))?; ${NUM} used(?=$|: )`,
  "gs",
);

const COUNTERS = `${NUM} total in ${NUM} blocks; ${NUM} free \\(${NUM} chunks\\); ${NUM} used`;
const SUMMARY = new RegExp(`^(\\d{1,10}) more child contexts containing ${COUNTERS}$`);
const GRAND_TOTAL = new RegExp(
  `^Grand total: ${NUM} bytes in ${NUM} blocks; ${NUM} free \\(${NUM} chunks\\); ${NUM} used$`,
);

function fits(...values: string[]): boolean {
  return values.every((v) => BigInt(v) <= SIZE_MAX);
}

/** used = total - free holds on every line PostgreSQL prints (it computes used that way). */
function consistent(total: string, free: string, used: string): boolean {
  return fits(total, free, used) && BigInt(total) - BigInt(free) === BigInt(used);
}

function classify(
  chunksAfterBlocks: string | undefined,
  emptyBlocks: string | undefined,
  freeChunks: string | undefined,
  majorVersion: number,
): { type: ContextType | null; freeChunks: string } | undefined {
  if (chunksAfterBlocks !== undefined) {
    if (emptyBlocks !== undefined || freeChunks === undefined) return undefined;
    return { type: "Generation", freeChunks };
  }
  if (emptyBlocks !== undefined) {
    if (freeChunks === undefined || majorVersion < 16 || !fits(emptyBlocks)) return undefined;
    return { type: "Slab", freeChunks };
  }
  if (freeChunks === undefined) {
    // Bump keeps no free chunks; pg_backend_memory_contexts shows 0 for it.
    if (majorVersion < 17) return undefined;
    return { type: "Bump", freeChunks: "0" };
  }
  // On 15 a Slab context prints exactly like an AllocSet: the line cannot tell them apart.
  return { type: majorVersion >= 16 ? "AllocSet" : null, freeChunks };
}

/**
 * Split `name: stats[: ident]` (what follows `level: N; `). A name or an ident may itself contain
 * `: `; the stats are the first `: <stats>` candidate that has one of the four shapes, fits size_t and
 * has used = total - free. Names are fixed strings of the server; idents (query texts...) come after.
 */
export function splitContextLine(
  rest: string,
  majorVersion: number,
): { name: string; ident: string | null; stats: TypedStats } | undefined {
  STATS_AFTER_NAME.lastIndex = 0;
  for (;;) {
    const m = STATS_AFTER_NAME.exec(rest);
    if (!m) return undefined;
    // Allow overlapping candidates: retry from the next character.
    STATS_AFTER_NAME.lastIndex = m.index + 1;
    const [whole, total, blocks, chunksAfterBlocks, emptyBlocks, free, freeChunks, used] = m as unknown as [
      string,
      string,
      string,
      string | undefined,
      string | undefined,
      string,
      string | undefined,
      string,
    ];
    if (m.index === 0) continue; // a context always has a name
    if (!consistent(total, free, used) || !fits(blocks)) continue;
    if (chunksAfterBlocks !== undefined && !fits(chunksAfterBlocks)) continue;
    if (freeChunks !== undefined && !fits(freeChunks)) continue;
    const kind = classify(chunksAfterBlocks, emptyBlocks, freeChunks, majorVersion);
    if (!kind) continue;
    const end = m.index + whole.length;
    const ident = end === rest.length ? null : rest.slice(end + 2);
    return {
      name: rest.slice(0, m.index),
      ident,
      stats: {
        type: kind.type,
        totalBytes: total,
        totalNblocks: blocks,
        freeBytes: free,
        freeChunks: kind.freeChunks,
        usedBytes: used,
      },
    };
  }
}

/** `N more child contexts containing ...` (after `level: N; `). */
export function parseSummary(rest: string): { count: number; stats: ContextStats } | undefined {
  const m = SUMMARY.exec(rest);
  if (!m) return undefined;
  const [, count, total, blocks, free, chunks, used] = m as unknown as string[];
  if (
    !consistent(total as string, free as string, used as string) ||
    !fits(blocks as string, chunks as string)
  ) {
    return undefined;
  }
  return {
    count: Number(count),
    stats: {
      totalBytes: total as string,
      totalNblocks: blocks as string,
      freeBytes: free as string,
      freeChunks: chunks as string,
      usedBytes: used as string,
    },
  };
}

/** `Grand total: ...`, the last line of a dump. */
export function parseGrandTotal(message: string): ContextStats | undefined {
  const m = GRAND_TOTAL.exec(message);
  if (!m) return undefined;
  const [, total, blocks, free, chunks, used] = m as unknown as string[];
  if (
    !consistent(total as string, free as string, used as string) ||
    !fits(blocks as string, chunks as string)
  ) {
    return undefined;
  }
  return {
    totalBytes: total as string,
    totalNblocks: blocks as string,
    freeBytes: free as string,
    freeChunks: chunks as string,
    usedBytes: used as string,
  };
}
