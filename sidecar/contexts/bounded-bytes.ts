/**
 * The bytes of one unfinished line or record, held up to a bound: past it they are dropped, and the
 * line or record they belong to is skipped whole when it ends (and counted), never kept growing.
 */
export class BoundedBytes {
  private parts: Buffer[] = [];
  private bytes = 0;
  private overflowing = false;
  /** Lines or records skipped for being longer than the bound. */
  dropped = 0;

  constructor(private readonly max: number) {}

  get length(): number {
    return this.bytes;
  }

  get holding(): boolean {
    return this.bytes > 0 || this.overflowing;
  }

  /** Keep a part of the unfinished line (copied: the caller may reuse its read buffer). */
  add(part: Buffer): void {
    if (this.overflowing) return;
    if (this.bytes + part.length > this.max) {
      this.clear();
      this.overflowing = true;
      return;
    }
    this.parts.push(Buffer.from(part));
    this.bytes += part.length;
  }

  /** The whole line, held parts then `tail`; undefined when it was too long. Starts the next line. */
  take(tail: Buffer): Buffer | undefined {
    if (this.overflowing || this.bytes + tail.length > this.max) {
      this.clear();
      this.overflowing = false;
      this.dropped++;
      return undefined;
    }
    if (this.parts.length === 0) return tail;
    this.parts.push(tail);
    const whole = Buffer.concat(this.parts, this.bytes + tail.length);
    this.clear();
    return whole;
  }

  private clear(): void {
    this.parts = [];
    this.bytes = 0;
  }
}
