/** `--listen` and `--serve` addresses: what each spelling binds to, and a clear error otherwise. */
import { isRingmasterError } from '@ringmaster/core';
import { describe, expect, it } from 'vitest';
import { parseListen } from '../src/listen.js';

describe('parseListen', () => {
  it.each([
    ['8080', { host: '127.0.0.1', port: 8080 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['deploy.internal:443', { host: 'deploy.internal', port: 443 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
  ])('%s', (spec, want) => {
    expect(parseListen(spec, '--listen')).toEqual(want);
  });

  it.each(['', 'host', 'host:', '1.2.3.4:70000', '::1:8080', 'a b:80'])(
    'refuses "%s", naming the flag',
    (spec) => {
      let error: unknown;
      try {
        parseListen(spec, '--listen');
      } catch (e) {
        error = e;
      }
      expect(isRingmasterError(error, 'CONFIG')).toBe(true);
      expect((error as Error).message).toContain('--listen: expected host:port');
    },
  );
});
