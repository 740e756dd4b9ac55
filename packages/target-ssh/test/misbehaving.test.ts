/**
 * Hosts that die in the handshake: a hand-made TCP server on loopback that accepts and never
 * speaks, resets after its banner, sends garbage or closes mid key exchange. Each must end as a
 * TARGET error naming the host and the reason, and nothing may reach the process as an
 * unhandled 'error' (ssh2 emits a second one after destroy(); Vitest fails the run on it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MisbehavingServer, type Misbehaviour, startMisbehavingServer } from '../src/testing/index.js';
import { sleep } from '../src/util/sleep.js';
import { type Lab, rejectionOf, startLab } from './fixture.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab(1);
});
afterAll(async () => {
  await lab?.stop();
});

const hung = /TCP connection opened but the SSH handshake did not finish within 1500 ms/;
/** Garbage with a newline in it fails as "does not speak SSH"; without one ssh2 waits for more. */
const garbage = { TARGET: /does not speak SSH/, TIMEOUT: hung };
const cases: { mode: Misbehaviour; seed: number; says: Partial<Record<string, RegExp>> }[] = [
  { mode: 'silent', seed: 1, says: { TIMEOUT: hung } },
  { mode: 'banner-then-reset', seed: 2, says: { TARGET: /reset during the handshake/ } },
  { mode: 'garbage', seed: 3, says: garbage },
  { mode: 'garbage', seed: 4, says: garbage },
  { mode: 'garbage', seed: 6, says: garbage },
  { mode: 'close-mid-kex', seed: 5, says: { TARGET: /closed during the handshake/ } },
  { mode: 'reset-on-accept', seed: 6, says: { TARGET: /reset during the handshake/ } },
];

describe.concurrent('a host that misbehaves in the handshake', () => {
  for (const { mode, seed, says } of cases) {
    it(`${mode} (seed ${seed}): ${Object.keys(says).join(' or ')} naming the host and why; the process survives`, async () => {
      const server: MisbehavingServer = await startMisbehavingServer(mode, { seed });
      try {
        const target = lab.target({
          hosts: [{ name: 'bad-1', address: '127.0.0.1', port: server.port }, ...lab.hostOptions()],
          timeouts: { connectMs: 1500 },
        });
        for (let attempt = 0; attempt < 2; attempt++) {
          const error = await rejectionOf(target.installed('bad-1', 'foo'));
          expect(Object.keys(says)).toContain(error.code);
          expect(error.message).toContain('bad-1');
          expect(error.message).toMatch(says[error.code!]!);
        }
        expect(server.connections).toBe(2);
        // Late events (ssh2's second 'error' after destroy) arrive after the rejection.
        await sleep(300);
        // The target still works for the healthy host next to it.
        expect((await target.run('host-1', ['true'])).exitCode).toBe(0);
        expect(await target.openConnections()).toBe(1);
        await target.close();
      } finally {
        await server.close();
      }
    });
  }
});

describe('connectConcurrency bounds the handshakes in flight', () => {
  it('with 1, a host behind a hung handshake waits its turn; with the default it does not', async () => {
    const server = await startMisbehavingServer('silent', { seed: 7 });
    try {
      for (const connectConcurrency of [1, undefined]) {
        const target = lab.target({
          hosts: [{ name: 'hung-1', address: '127.0.0.1', port: server.port }, ...lab.hostOptions()],
          timeouts: { connectMs: 1500 },
          ...(connectConcurrency ? { connectConcurrency } : {}),
        });
        const order: string[] = [];
        const hung = rejectionOf(target.installed('hung-1', 'foo')).then((e) => {
          order.push('hung-1 failed');
          return e;
        });
        await sleep(50); // the hung handshake holds the one slot first
        const healthy = target.run('host-1', ['true']).then((r) => {
          order.push('host-1 ran');
          return r;
        });
        expect((await hung).code).toBe('TIMEOUT');
        expect((await healthy).exitCode).toBe(0);
        expect(order).toEqual(
          connectConcurrency === 1 ? ['hung-1 failed', 'host-1 ran'] : ['host-1 ran', 'hung-1 failed'],
        );
        await target.close();
      }
    } finally {
      await server.close();
    }
  });
});
