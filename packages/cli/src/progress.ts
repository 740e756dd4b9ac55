/**
 * Progress on a terminal: while a rollout runs, one line redrawn in place shows how many of
 * its hosts are done (`[███░░░░░] 3/8 prod 1.0.42`). Not a TTY: nothing is drawn, and the
 * plain per-host lines are printed instead.
 */
import type { TypedRecord } from '@ringmaster/core';

export interface ProgressIo {
  /** Writes without a newline (for redrawing a line). */
  write(text: string): void;
}

interface Running {
  label: string;
  total: number;
  done: number;
  failed: number;
}

const WIDTH = 20;

export class ProgressLine {
  private readonly running = new Map<string, Running>();
  private drawn = false;

  constructor(private readonly io: ProgressIo) {}

  /**
   * Takes a record; returns true when the progress line stands for it (a host that finished
   * fine), so its plain line need not be printed.
   */
  handle(record: TypedRecord): boolean {
    switch (record.type) {
      case 'rollout.started': {
        const d = record.data;
        this.running.set(d.rollout, {
          label: `${d.ring} ${d.release}${d.kind === 'deploy' ? '' : ` (${d.kind})`}`,
          total: d.batches.flat().length,
          done: 0,
          failed: 0,
        });
        return false;
      }
      case 'host.finished': {
        const run = this.running.get(record.data.rollout);
        if (!run) return false;
        run.done++;
        if (!record.data.ok) run.failed++;
        return record.data.ok;
      }
      case 'rollout.finished':
        this.running.delete(record.data.rollout);
        return false;
      default:
        return false;
    }
  }

  /** Erases the progress line, before a plain line is printed. */
  clear(): void {
    if (this.drawn) this.io.write('\r\x1b[2K');
    this.drawn = false;
  }

  /** Draws the progress of the rollouts under way, if any. */
  draw(): void {
    this.clear();
    if (this.running.size === 0) return;
    const parts = [...this.running.values()].map((r) => {
      const filled = Math.round((r.done / Math.max(1, r.total)) * WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
      return `[${bar}] ${r.done}/${r.total} ${r.label}${r.failed ? ` (${r.failed} failed)` : ''}`;
    });
    this.io.write(parts.join('  '));
    this.drawn = true;
  }
}
