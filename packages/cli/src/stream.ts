/**
 * Output that can never stop a deploy. Node writes to a pipe synchronously on Linux, so a
 * reader that stops reading (`| less` left unscrolled) would block the whole event loop — the
 * rollout, its SSH keepalives and its lease renewals with it — and a reader that goes away
 * (`| head -1`) makes the next write fail with EPIPE. Here each write goes to the thread pool,
 * one at a time; a reader that is gone ends the output (not the command); one that falls behind
 * by more than a bound loses lines, and is told how many. Any other write error (a full disk
 * under `> file`: ENOSPC, EDQUOT, EFBIG) also ends the output, and is kept in `failure` so the
 * command can exit non-zero: output that was lost is not success.
 */
import { write } from 'node:fs';

/** Bytes waiting for a slow reader before new lines are dropped. */
const MAX_QUEUED = 1024 * 1024;
/** errnos that mean nobody reads any more. */
const GONE = new Set(['EPIPE', 'EIO', 'ECONNRESET', 'EBADF', 'EINVAL']);

export class OutputStream {
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private dropped = 0;
  private drained: (() => void)[] = [];
  /** Set once the reader is gone: everything after is dropped silently. */
  closed = false;
  /** The write error that ended the output, when it was not the reader going away. */
  failure: NodeJS.ErrnoException | undefined;

  constructor(private readonly fd: number) {}

  write(text: string): void {
    if (this.closed) return;
    const bytes = Buffer.from(text);
    if (this.queued + bytes.length > MAX_QUEUED) {
      this.dropped += (text.match(/\n/g) ?? ['']).length;
      return;
    }
    if (this.dropped > 0) {
      const note = Buffer.from(`… ${this.dropped} line(s) not shown: the reader was not keeping up\n`);
      this.dropped = 0;
      this.queue.push(note);
      this.queued += note.length;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.pump();
  }

  private pump(): void {
    if (this.writing || this.closed) return;
    const next = this.queue.shift();
    if (!next) {
      for (const done of this.drained.splice(0)) done();
      return;
    }
    this.writing = true;
    write(this.fd, next, 0, next.length, null, (error, written) => {
      this.writing = false;
      if (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (code === 'EAGAIN') {
          // A non-blocking pipe that is full: try again shortly, without spinning.
          this.queue.unshift(next);
          setTimeout(() => this.pump(), 10).unref();
          return;
        }
        if (!GONE.has(code)) this.failure = error as NodeJS.ErrnoException;
        this.close();
        return;
      }
      if (written < next.length) {
        this.queue.unshift(next.subarray(written));
        this.queued -= written;
      } else {
        this.queued -= next.length;
      }
      this.pump();
    });
  }

  private close(): void {
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    for (const done of this.drained.splice(0)) done();
  }

  /** Resolves once everything queued is written (or the reader is gone), or after `ms`. */
  flush(ms: number): Promise<void> {
    if (this.closed || (!this.writing && this.queue.length === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
