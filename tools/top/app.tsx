/**
 * top's terminal view (ink): the screen of screen.ts refreshed every interval, a selected process, keys
 * to sort (o own, p pss, g growth), to open one process's memory by kind and its largest memory contexts
 * (enter; c reads the contexts again; esc goes back), and to quit (q).
 */
import { Box, Text, useApp, useInput, useStdout } from "ink";
import { useCallback, useEffect, useRef, useState } from "react";
import { type ContextRow, detailLines, type KindRow, readContexts, readKinds } from "./detail.js";
import { headerLines, rowLine, SORT_KEYS, type SortKey, sortRows, TABLE_HEADER } from "./screen.js";
import type { Problem, Snapshot, SnapshotSource } from "./snapshot.js";

export interface TopProps {
  source: SnapshotSource;
  intervalMs: number;
  target: string;
  initialSort: SortKey;
}

interface Detail {
  pid: number;
  kinds: KindRow[] | Problem | null;
  contexts: ContextRow[] | Problem | null;
}

const KEYS_HELP = "o own  p pss  g growth  ↑↓ select  enter details  q quit";
const DETAIL_HELP = "c read contexts again  esc back  q quit";

export function TopApp({ source, intervalMs, target, initialSort }: TopProps) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [sort, setSort] = useState<SortKey>(initialSort);
  const [selected, setSelected] = useState<number | null>(null);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [size, setSize] = useState({ rows: stdout.rows || 24, columns: stdout.columns || 80 });
  const detailRef = useRef<Detail | null>(null);
  const selectedRef = useRef<number | null>(null);
  detailRef.current = detail;

  useEffect(() => {
    const onResize = () => setSize({ rows: stdout.rows || 24, columns: stdout.columns || 80 });
    stdout.on("resize", onResize);
    return () => {
      stdout.off("resize", onResize);
    };
  }, [stdout]);

  const loadKinds = useCallback(
    async (pid: number) => {
      const c = source.connection;
      const kinds = c ? await readKinds(c.db, c.extension, pid) : { message: "not connected" };
      setDetail((d) => (d?.pid === pid ? { ...d, kinds } : d));
    },
    [source],
  );

  const loadContexts = useCallback(
    async (pid: number) => {
      setDetail((d) => (d?.pid === pid ? { ...d, contexts: null } : d));
      const c = source.connection;
      const contexts = c ? await readContexts(c.db, c.extension, pid) : { message: "not connected" };
      setDetail((d) => (d?.pid === pid ? { ...d, contexts } : d));
    },
    [source],
  );

  // One read at a time: the next starts an interval after the previous one ended.
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      const next = await source.read();
      if (stopped) return;
      setSnapshot(next);
      const open = detailRef.current;
      if (open) await loadKinds(open.pid);
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [source, intervalMs, loadKinds]);

  const ordered = snapshot ? sortRows(snapshot.rows, sort) : [];
  const index = Math.max(
    0,
    ordered.findIndex((r) => r.pid === selected),
  );

  useInput((input, key) => {
    if (input === "q" || (key.ctrl && input === "c")) {
      exit();
      return;
    }
    if (detail) {
      if (key.escape || key.backspace || key.leftArrow) setDetail(null);
      else if (input === "c") void loadContexts(detail.pid);
      return;
    }
    const sortKey = SORT_KEYS[input];
    // The selection lives in a ref too: keys typed faster than a render must see the one before them.
    const current = () => {
      const at = ordered.findIndex((r) => r.pid === selectedRef.current);
      return at < 0 ? 0 : at;
    };
    const select = (pid: number | null) => {
      selectedRef.current = pid;
      setSelected(pid);
    };
    if (sortKey) setSort(sortKey);
    else if ((key.downArrow || input === "j") && ordered.length > 0)
      select(ordered[Math.min(current() + 1, ordered.length - 1)]?.pid ?? null);
    else if ((key.upArrow || input === "k") && ordered.length > 0)
      select(ordered[Math.max(current() - 1, 0)]?.pid ?? null);
    else if (key.return && ordered.length > 0) {
      const pid = ordered[current()]?.pid as number;
      setDetail({ pid, kinds: null, contexts: null });
      void loadKinds(pid);
      void loadContexts(pid);
    }
  });

  const width = size.columns;
  const header = snapshot
    ? headerLines(snapshot, { sort, intervalSeconds: intervalMs / 1000, target })
    : [`pg-meminfo top  ${target}  connecting...`];
  const body: { id: string; text: string; selected?: boolean; title?: boolean }[] = [];
  // The header, a blank line, the body and the keys fill the terminal, one line short of it.
  const room = Math.max(1, size.rows - header.length - 4);
  if (detail) {
    const lines = detailLines(detail.pid, detail.kinds, detail.contexts).slice(0, room + 1);
    for (const [i, text] of lines.entries()) body.push({ id: `d${i}`, text });
  } else {
    body.push({ id: "title", text: TABLE_HEADER, title: true });
    const first = Math.min(Math.max(0, index - room + 1), Math.max(0, ordered.length - room));
    for (const row of ordered.slice(first, first + room)) {
      body.push({ id: `p${row.pid}`, text: rowLine(row), selected: row.pid === ordered[index]?.pid });
    }
  }
  const headed = [...header.entries()].map(([i, text]) => ({ id: `h${i}`, text }));
  return (
    <Box flexDirection="column" width={width} height={size.rows - 1}>
      {headed.map((line) => (
        <Text key={line.id} bold={line.id === "h0"} wrap="truncate-end">
          {line.text}
        </Text>
      ))}
      <Text> </Text>
      {body.map((line) => (
        <Text key={line.id} inverse={line.selected === true} bold={line.title === true} wrap="truncate-end">
          {line.text === "" ? " " : line.text}
        </Text>
      ))}
      <Box flexGrow={1} />
      <Text dimColor wrap="truncate-end">
        {detail ? DETAIL_HELP : KEYS_HELP}
      </Text>
    </Box>
  );
}
