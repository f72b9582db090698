import { DumpIncompleteError } from "../errors.js";
import type { ContextStats, ContextType } from "./context-stats.js";
import { type DumpLine, parseDumpMessage } from "./dump-lines.js";

/** One row of a dump, with the columns and meaning of the server's pg_backend_memory_contexts. */
export interface ContextRow extends ContextStats {
  pid: number;
  /** null on a summarized row. */
  name: string | null;
  ident: string | null;
  /** Name of the parent context; null for TopMemoryContext. */
  parent: string | null;
  /** Numbered as the server's own view numbers it: 0-based up to 17, 1-based from 18. */
  level: number;
  /**
   * Like PostgreSQL 18's view: the ids of TopMemoryContext, the intermediate parents and the context
   * itself, ids given breadth-first from 1 (mcxtfuncs.c). Only the contexts the dump shows get an id, so
   * after a summarized row the ids differ from those the view would give. A summarized row carries the
   * path of its parent: it stands for several contexts and has no id of its own.
   */
  path: number[];
  type: ContextType | null;
  /** On an "N more child contexts" row, N (on 17+ every remaining descendant); null elsewhere. */
  summarizedContexts: number | null;
}

export interface ContextDump {
  pid: number;
  majorVersion: number;
  /** Depth-first, in the order the server logged them. */
  rows: ContextRow[];
  grandTotal: ContextStats;
}

/** The first level a server logs: PostgreSQL 18 logs (and its view shows) 1-based levels. */
export function baseLevel(majorVersion: number): number {
  return majorVersion >= 18 ? 1 : 0;
}

/** Deeper than any real context tree; bounds the work a hostile dump can cause. */
const MAX_DEPTH = 1000;

const COUNTERS = ["totalBytes", "totalNblocks", "freeBytes", "freeChunks", "usedBytes"] as const;

interface Node {
  row: ContextRow;
  parent: Node | undefined;
  children: Node[];
}

/**
 * Assembles the dump of one pid from its dump lines, in log order. Lines before the dump begins (the
 * tail of an earlier dump) are ignored; a dump begins at its header, or at a top-level context line
 * (a header in another lc_messages language). A new header before the Grand total starts over: the
 * cut-off dump is dropped, never returned. Lines that contradict the tree throw DumpIncompleteError.
 */
export class DumpAssembler {
  private rows: ContextRow[] = [];
  /** The node of each row; for a summarized row, its parent's. */
  private nodes: Node[] = [];
  private chain: Node[] = [];
  private roots: Node[] = [];
  private begun = false;
  private readonly base: number;

  constructor(
    readonly pid: number,
    readonly majorVersion: number,
  ) {
    this.base = baseLevel(majorVersion);
  }

  /** A header or a first context line has been seen, and no Grand total yet. */
  get started(): boolean {
    return this.begun;
  }

  /** Feed one message of this pid; returns the dump once its Grand total arrives. */
  addMessage(message: string): ContextDump | undefined {
    const line = parseDumpMessage(message, this.majorVersion);
    return line ? this.add(line) : undefined;
  }

  add(line: DumpLine): ContextDump | undefined {
    switch (line.kind) {
      case "header":
        this.reset();
        this.begun = true;
        return undefined;
      case "context":
        this.context(line);
        return undefined;
      case "summary":
        this.summary(line);
        return undefined;
      case "grand-total":
        return this.begun ? this.finish(line.stats) : undefined;
    }
  }

  private reset(): void {
    this.rows = [];
    this.nodes = [];
    this.chain = [];
    this.roots = [];
    this.begun = false;
  }

  private fail(message: string): never {
    this.reset();
    throw new DumpIncompleteError(`memory context dump of PID ${this.pid}: ${message}`, {
      hint: "The dump's lines do not form one tree; its log lines may have been lost or mixed.",
    });
  }

  private context(line: Extract<DumpLine, { kind: "context" }>): void {
    const depth = line.level - this.base;
    if (!this.begun) {
      if (depth !== 0) return;
      this.begun = true;
    }
    if (
      depth < 0 ||
      depth > this.chain.length ||
      depth > MAX_DEPTH ||
      (depth === 0 && this.rows.length > 0)
    ) {
      this.fail(`context "${line.name}" at level ${line.level} does not follow from the lines before it`);
    }
    const parent = depth > 0 ? this.chain[depth - 1] : undefined;
    const row: ContextRow = {
      pid: this.pid,
      name: line.name,
      ident: line.ident,
      parent: parent?.row.name ?? null,
      level: line.level,
      path: [],
      type: line.stats.type,
      totalBytes: line.stats.totalBytes,
      totalNblocks: line.stats.totalNblocks,
      freeBytes: line.stats.freeBytes,
      freeChunks: line.stats.freeChunks,
      usedBytes: line.stats.usedBytes,
      summarizedContexts: null,
    };
    const node: Node = { row, parent, children: [] };
    if (parent) parent.children.push(node);
    else this.roots.push(node);
    this.chain.length = depth;
    this.chain.push(node);
    this.rows.push(row);
    this.nodes.push(node);
  }

  private summary(line: Extract<DumpLine, { kind: "summary" }>): void {
    if (!this.begun) return;
    // The summary line carries its parent's level; the contexts it stands for are one deeper.
    const depth = line.level - this.base;
    const parent = depth >= 0 ? this.chain[depth] : undefined;
    if (!parent) this.fail(`summarized children at level ${line.level} have no parent context before them`);
    this.chain.length = depth + 1;
    this.rows.push({
      pid: this.pid,
      name: null,
      ident: null,
      parent: parent.row.name,
      level: line.level + 1,
      path: [],
      type: null,
      ...line.stats,
      summarizedContexts: line.count,
    });
    this.nodes.push(parent);
  }

  private finish(grandTotal: ContextStats): ContextDump {
    if (this.rows.length === 0) this.fail("a Grand total with no context before it");
    for (const counter of COUNTERS) {
      let sum = 0n;
      for (const row of this.rows) sum += BigInt(row[counter]);
      if (sum !== BigInt(grandTotal[counter])) {
        this.fail(`its rows add up to ${sum} for ${counter}, its Grand total says ${grandTotal[counter]}`);
      }
    }
    this.number();
    const dump: ContextDump = { pid: this.pid, majorVersion: this.majorVersion, rows: this.rows, grandTotal };
    this.reset();
    return dump;
  }

  /** Breadth-first ids from 1, as pg_get_backend_memory_contexts() gives them; then each row's path. */
  private number(): void {
    const ids = new Map<Node, number>();
    const queue = [...this.roots];
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i] as Node;
      ids.set(node, i + 1);
      for (const child of node.children) queue.push(child);
    }
    // Rows are depth-first, so a parent's path is always known before its children's (no recursion:
    // a hostile dump may nest deeply).
    const paths = new Map<Node, number[]>();
    this.rows.forEach((row, index) => {
      const node = this.nodes[index] as Node;
      if (row.summarizedContexts !== null) {
        row.path = paths.get(node) ?? [];
        return;
      }
      const parentPath = node.parent ? (paths.get(node.parent) ?? []) : [];
      row.path = [...parentPath, ids.get(node) as number];
      paths.set(node, row.path);
    });
  }
}

/** Assemble every complete dump in a sequence of (pid, message) records: for tests and tools. */
export function parseDumps(
  records: Iterable<{ pid: number; message: string }>,
  majorVersion: number,
): ContextDump[] {
  const assemblers = new Map<number, DumpAssembler>();
  const dumps: ContextDump[] = [];
  for (const record of records) {
    let assembler = assemblers.get(record.pid);
    if (!assembler) {
      assembler = new DumpAssembler(record.pid, majorVersion);
      assemblers.set(record.pid, assembler);
    }
    const dump = assembler.addMessage(record.message);
    if (dump) dumps.push(dump);
  }
  return dumps;
}
