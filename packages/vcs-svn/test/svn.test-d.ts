/**
 * Type-level tests of the public API: svn() is a core Source with both deploy-request
 * capabilities, and its options type is derived from the exported schema.
 */
import type { DeployRequest, Source } from '@ringmaster/core/adapter';
import { describe, expectTypeOf, it } from 'vitest';
import { type SvnOptions, type SvnSource, svn } from '../src/index.js';

describe('svn() types', () => {
  it('returns a Source whose deploy-request methods are always there', () => {
    const source = svn({ url: 'file:///srv/svn/shop' });
    expectTypeOf(source).toExtend<Source>();
    expectTypeOf(source).toEqualTypeOf<SvnSource>();
    expectTypeOf(source.deployRequests).returns.toEqualTypeOf<Promise<DeployRequest[]>>();
    expectTypeOf(source.capabilities.createDeployRequest).toEqualTypeOf<true>();
  });

  it('requires only the url; the rest is optional', () => {
    expectTypeOf<{ url: string }>().toExtend<SvnOptions>();
    expectTypeOf<{ line: string }>().not.toExtend<SvnOptions>();
    expectTypeOf<SvnOptions['timeoutMs']>().toEqualTypeOf<number | undefined>();
  });
});
