import type { Target } from '@ringmaster/core/adapter';
import { describe, expectTypeOf, it } from 'vitest';
import { type SshOptions, type SshTarget, ssh } from '../src/index.js';
import type { TestHosts } from '../src/testing/index.js';

describe('public types', () => {
  it('ssh() returns a core Target', () => {
    expectTypeOf(ssh).returns.toEqualTypeOf<SshTarget>();
    expectTypeOf<SshTarget>().toMatchTypeOf<Target>();
  });

  it('options: hosts required, defaults optional, healthCheck is a command or a url', () => {
    expectTypeOf<{ hosts: [{ name: 'web-1' }]; agent: true }>().toMatchTypeOf<SshOptions>();
    expectTypeOf<{ privateKey: string }>().not.toMatchTypeOf<SshOptions>();
    expectTypeOf<SshOptions['installMode']>().toEqualTypeOf<'upload' | 'apt' | undefined>();
  });

  it('the test hosts fixture exposes ports, keys and per-host roots', () => {
    expectTypeOf<TestHosts['hosts'][number]['port']>().toBeNumber();
    expectTypeOf<TestHosts['rootOf']>().toEqualTypeOf<(name: string) => string>();
  });
});
