import { BoundedBytes } from "./bounded-bytes.js";

/**
 * Splits a stream of byte chunks into lines, holding at most `maxLineBytes` of an unfinished line: a
 * longer line is dropped whole (and counted), never kept growing. Lines are decoded as UTF-8 only once
 * complete, so a character split across two chunks is decoded correctly.
 */
export class LineSplitter {
  private readonly held: BoundedBytes;

  constructor(maxLineBytes: number) {
    this.held = new BoundedBytes(maxLineBytes);
  }

  /** Lines dropped for being longer than maxLineBytes. */
  get droppedLines(): number {
    return this.held.dropped;
  }

  /** Bytes of the unfinished last line held now. */
  get buffered(): number {
    return this.held.length;
  }

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      this.finish(chunk.subarray(start, nl), onLine);
      start = nl + 1;
    }
    if (start < chunk.length) this.held.add(chunk.subarray(start));
  }

  /** The stream ended: an unfinished last line counts as a line. */
  end(onLine: (line: string) => void): void {
    if (this.held.holding) this.finish(Buffer.alloc(0), onLine);
  }

  private finish(tail: Buffer, onLine: (line: string) => void): void {
    const bytes = this.held.take(tail);
    if (!bytes) return;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    onLine(bytes.toString("utf8", 0, end));
  }
}
