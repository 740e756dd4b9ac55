/**
 * The upload's pacing (in-flight.ts): a gate on a channel's window. On a real sshd: the gate
 * holds the bytes in flight near its limit where the server's window would take 2 MiB, reopens
 * as the command reads, and every byte arrives. On a stand-in channel: it lets the server's window
 * decide while the window stays shut and paces again once it grows, never holds back below half
 * the server's window, and paces nothing where ssh2 keeps no window it knows. Through the target:
 * an install's upload goes through a gate with the `uploadInFlightBytes` of the options.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '@ringmaster/core/adapter';
import { Client, type ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InFlightGate } from '../src/in-flight.js';
import { ssh } from '../src/index.js';
import { buildDeb, type Lab, startLab } from './fixture.js';

/**
 * Every gate the target makes: the cap it was given, the limit it keeps (never below half the
 * server's window and a slice), and the most bytes outstanding after any write of its upload.
 */
const made = vi.hoisted(
  () => [] as { cap: number; limit: number; paced: boolean; most: number; gate?: InFlightGate }[],
);
vi.mock('../src/in-flight.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/in-flight.js')>();
  return {
    ...original,
    inFlightGate(stream: ClientChannel, cap: number): InFlightGate {
      const outgoing = (stream as unknown as { outgoing: { window: number } }).outgoing;
      const full = outgoing.window;
      const seen = { cap, limit: Math.max(cap, full / 2 + original.SLICE_BYTES), paced: false, most: 0 };
      made.push(seen);
      const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
      (stream as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk) => {
        const more = write(chunk);
        seen.most = Math.max(seen.most, full - outgoing.window + stream.writableLength);
        return more;
      };
      // No stall here however loaded the machine: this checks the wiring and the pumps.
      const gate = original.inFlightGate(stream, cap, 30_000);
      seen.paced = gate.paced;
      Object.assign(seen, { gate });
      return gate;
    },
  };
});

/** The module itself, not the target's recording wrapper above. */
const { inFlightGate, SLICE_BYTES: SLICE } =
  await vi.importActual<typeof import('../src/in-flight.js')>('../src/in-flight.js');

/** A stand-in for ssh2's channel: the window it keeps, and what sits in its buffer. */
function fakeChannel(window: number) {
  return { outgoing: { window }, writableLength: 0 } as unknown as ClientChannel & {
    outgoing: { window: number };
  };
}

const FULL = 8 << 20;
const CAP = 6 << 20;

describe('the gate on a stand-in channel', () => {
  it('closes once the cap is out, and wakes when the server gives window back', async () => {
    const channel = fakeChannel(FULL);
    const gate = inFlightGate(channel, CAP, 10_000);
    expect(gate.paced).toBe(true);
    // ssh2 lowers the window as it sends.
    channel.outgoing.window -= CAP - 1;
    expect(gate.open()).toBe(true);
    channel.outgoing.window -= 1;
    expect(gate.open()).toBe(false);
    const woken = new Promise<void>((resolve) => gate.wait(resolve));
    // A WINDOW_ADJUST: ssh2 adds to the window.
    channel.outgoing.window += 96 * 1024;
    await woken;
    expect(gate.open()).toBe(true);
    expect(gate.stalls).toBe(0);
    expect(channel.outgoing.window).toBe(FULL - CAP + 96 * 1024);
    gate.stop();
    // A plain number again, as ssh2 left it.
    expect(Object.getOwnPropertyDescriptor(channel.outgoing, 'window')).toMatchObject({
      value: FULL - CAP + 96 * 1024,
      writable: true,
    });
    // ssh2 goes on with it; a second stop (the upload settling after delivery) leaves it be.
    channel.outgoing.window -= 3;
    gate.stop();
    expect(channel.outgoing.window).toBe(FULL - CAP + 96 * 1024 - 3);
  });

  it('lets the server window decide while the window stays shut (a host slow to read), and paces again once it grows', async () => {
    const channel = fakeChannel(FULL);
    const gate = inFlightGate(channel, CAP, 50);
    channel.outgoing.window -= CAP;
    expect(gate.open()).toBe(false);
    const started = Date.now();
    await new Promise<void>((resolve) => gate.wait(resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(gate.stalls).toBe(1);
    // Until the window grows, the server's window alone decides.
    channel.outgoing.window -= 1 << 20;
    expect(gate.open()).toBe(true);
    // The host reads again: paced again, with 7 MiB still out.
    channel.outgoing.window += 64 * 1024;
    expect(gate.open()).toBe(false);
    gate.stop();
  });

  it('never holds back below half the server window and a slice (a server that gives window back at half)', () => {
    const channel = fakeChannel(FULL);
    const gate = inFlightGate(channel, 1 << 20, 10_000);
    channel.outgoing.window -= FULL / 2 + SLICE - 1;
    expect(gate.open()).toBe(true);
    channel.outgoing.window -= 1;
    expect(gate.open()).toBe(false);
    gate.stop();
  });

  it('paces nothing where ssh2 keeps no window it knows, where the cap is 0, or where the window is smaller', () => {
    expect(inFlightGate({ writableLength: 0 } as unknown as ClientChannel, 256 * 1024).paced).toBe(false);
    expect(inFlightGate(fakeChannel(FULL), 0).paced).toBe(false);
    expect(inFlightGate(fakeChannel(128 * 1024), 256 * 1024).paced).toBe(false);
  });
});

describe('the gate on a real sshd channel, and through the target', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab(1);
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('holds the bytes in flight near the cap while the command does not read, and every byte arrives', async () => {
    const host = lab.lab.hosts[0]!;
    const client = new Client();
    const privateKey = await readFile(lab.lab.clientKeyFile);
    // The host's key, as known_hosts has it: this raw client checks it as the target does.
    const hostKey = (await lab.lab.hostKeyOf(host.name)).split(' ')[1]!;
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({
        host: host.address,
        port: host.port,
        username: 'root',
        privateKey,
        hostVerifier: (key: Buffer) => key.toString('base64') === hostKey,
      });
    });
    try {
      const data = randomBytes(3 << 20);
      const cap = 256 * 1024;
      // The command reads nothing for a second, then hashes what it gets.
      const stream = await new Promise<ClientChannel>((resolve, reject) =>
        client.exec('sleep 1; sha256sum', (error, channel) => (error ? reject(error) : resolve(channel))),
      );
      let stdout = '';
      stream.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      const outgoing = (stream as unknown as { outgoing: { window: number } }).outgoing;
      const full = outgoing.window;
      // The assumption the gate rests on: ssh2 keeps OpenSSH's window there (2 MiB).
      expect(full).toBeGreaterThanOrEqual(1 << 20);
      // A cap of 256 KiB: the gate keeps half of that window and a slice.
      const limit = full / 2 + SLICE;
      const gate = inFlightGate(stream, cap, 10_000);
      expect(gate.paced).toBe(true);
      let offset = 0;
      let most = 0;
      let waits = 0;
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (offset < data.length) {
            if (!gate.open()) {
              waits++;
              gate.wait(pump);
              return;
            }
            stream.write(data.subarray(offset, offset + SLICE));
            offset += SLICE;
            most = Math.max(most, full - outgoing.window + stream.writableLength);
          }
          gate.stop();
          stream.end();
          resolve();
        };
        pump();
      });
      await closed;
      expect(stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
      // Never much past the limit, though the server would have taken `full` at once…
      expect(most).toBeLessThanOrEqual(limit + SLICE);
      expect(most).toBeGreaterThanOrEqual(limit);
      // …and the gate woke on the server's window (3 MiB through it), never by a stall.
      expect(waits).toBeGreaterThanOrEqual(8);
      expect(gate.stalls).toBe(0);
    } finally {
      client.end();
    }
  }, 60_000);

  it("an install's upload goes through a gate with the options' uploadInFlightBytes, and installs", async () => {
    const artifact = await buildDeb(lab.work, { name: 'rm-paced', version: '1.0', payloadBytes: 3 << 20 });
    for (const [options, cap] of [
      [{}, 1 << 20],
      [{ uploadInFlightBytes: 1536 * 1024, uploadCacheBytes: 0 }, 1536 * 1024],
    ] as const) {
      made.length = 0;
      const target = lab.target(options);
      await target.install('host-1', artifact);
      expect(await target.installed('host-1', 'rm-paced')).toEqual({ version: '1.0', status: 'installed' });
      await target.close();
      expect(made).toHaveLength(1);
      expect(made[0]).toMatchObject({ cap, paced: true });
      expect(made[0]!.most).toBeLessThanOrEqual(made[0]!.limit + SLICE);
      expect(made[0]!.gate?.stalls).toBe(0);
      await lab.target().remove('host-1', 'rm-paced');
    }
  }, 60_000);

  it('refuses an uploadInFlightBytes that sshd would never give window back to, naming the option', () => {
    let error: unknown;
    try {
      ssh({ hosts: [{ name: 'a' }], privateKey: '/k', uploadInFlightBytes: 64 * 1024 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe('uploadInFlightBytes');
    expect((error as Error).message).toContain('131072');
  });
});
