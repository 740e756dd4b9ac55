import type { Source } from '@ringmaster/core/adapter';
import { describe, expectTypeOf, it } from 'vitest';
import { type GitOptions, type GitSource, git } from '../src/index.js';

describe('public types', () => {
  it('git() returns a Source with both deploy-request operations', () => {
    expectTypeOf(git).returns.toEqualTypeOf<GitSource>();
    expectTypeOf<GitSource>().toMatchTypeOf<Source>();
    expectTypeOf<GitSource['requestDeploy']>().toBeFunction();
    expectTypeOf<GitSource['deployRequests']>().toBeFunction();
  });

  it('only url is required', () => {
    expectTypeOf<{ url: string }>().toMatchTypeOf<GitOptions>();
    expectTypeOf<{ branch: string }>().not.toMatchTypeOf<GitOptions>();
  });
});
