/**
 * Splits a stream of byte chunks into lines, holding at most `maxLineBytes` of an unfinished line: a
 * longer line is dropped whole (and counted), never kept growing. Lines are decoded as UTF-8 only once
 * complete, so a character split across two chunks is decoded correctly.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private overflowing = false;
  /** Lines dropped for being longer than maxLineBytes. */
  droppedLines = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Bytes of the unfinished last line held now. */
  get buffered(): number {
    return this.partBytes;
  }

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      this.finish(chunk.subarray(start, nl), onLine);
      start = nl + 1;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start));
  }

  /** The stream ended: an unfinished last line counts as a line. */
  end(onLine: (line: string) => void): void {
    if (this.partBytes > 0 || this.overflowing) this.finish(Buffer.alloc(0), onLine);
  }

  private keep(part: Buffer): void {
    if (this.overflowing) return;
    if (this.partBytes + part.length > this.maxLineBytes) {
      this.parts = [];
      this.partBytes = 0;
      this.overflowing = true;
      return;
    }
    // Copy: the caller may reuse its read buffer.
    this.parts.push(Buffer.from(part));
    this.partBytes += part.length;
  }

  private finish(tail: Buffer, onLine: (line: string) => void): void {
    if (this.overflowing || this.partBytes + tail.length > this.maxLineBytes) {
      this.parts = [];
      this.partBytes = 0;
      this.overflowing = false;
      this.droppedLines++;
      return;
    }
    let bytes = tail;
    if (this.parts.length > 0) {
      this.parts.push(tail);
      bytes = Buffer.concat(this.parts, this.partBytes + tail.length);
      this.parts = [];
      this.partBytes = 0;
    }
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    onLine(bytes.toString("utf8", 0, end));
  }
}
