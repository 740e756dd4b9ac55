/** Bad configuration fails where it was written, as a ConfigError naming the option path. */
import { describe, expect, it } from 'vitest';
import {
  all,
  auto,
  ConfigError,
  createEngine,
  freeze,
  localRepository,
  localTarget,
  memorySource,
  memoryStore,
  pipeline,
  ring,
  tarball,
} from '../src/index.js';

const base = () => ({
  name: 'app',
  source: memorySource(),
  packager: tarball({ name: 'app' }),
  repository: localRepository({ dir: '/tmp/unused' }),
});
const target = (hosts: string[]) => localTarget({ root: '/tmp/unused', hosts });
const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration errors', () => {
  it('names the nested path of a bad rollout option', () => {
    const e = configError(() =>
      pipeline({
        ...base(),
        rings: [
          { name: 'eng', target: target(['e1']) },
          { name: 'sb', target: target(['s1']) },
          { name: 'prod', target: target(['p1']), rollout: { maxFailures: -1 } },
        ],
      }),
    );
    expect(e.path).toBe('rings[2].rollout.maxFailures');
    expect(e.message).toContain('rings[2].rollout.maxFailures: expected a number ≥ 0');
    expect(e.code).toBe('CONFIG');
  });

  it('refuses a gate name that would lead its scratch folder out of the work directory', () => {
    for (const name of ['../../../../home/me', '/etc', 'smoke test', '']) {
      const e = configError(() =>
        pipeline({
          ...base(),
          rings: [{ name: 'eng', target: target(['e1']), gates: [{ name, run: ['true'] }] }],
        }),
      );
      expect(e.path, name).toBe('rings[0].gates[0].name');
    }
  });

  it('catches duplicate ring names and empty host lists when the pipeline is defined', () => {
    expect(
      configError(() =>
        pipeline({
          ...base(),
          rings: [
            { name: 'eng', target: target(['a']) },
            { name: 'eng', target: target(['b']) },
          ],
        }),
      ).message,
    ).toContain('rings[1].name: duplicate ring name "eng"');
    expect(
      configError(() => pipeline({ ...base(), rings: [{ name: 'eng', target: target([]) }] })).path,
    ).toBe('rings[0].target.hosts');
    expect(configError(() => pipeline({ ...base(), rings: [] })).message).toContain(
      'rings: expected at least one ring',
    );
  });

  it('refuses unknown options, bad names and non-adapters', () => {
    expect(
      configError(() =>
        pipeline({ ...base(), rings: [{ name: 'eng', target: target(['a']), polcy: auto() } as never] }),
      ).message,
    ).toMatch(/polcy/);
    expect(
      configError(() =>
        pipeline({ ...base(), name: 'bad name;rm', rings: [{ name: 'eng', target: target(['a']) }] }),
      ).path,
    ).toBe('name');
    expect(
      configError(() =>
        pipeline({ ...base(), source: {} as never, rings: [{ name: 'eng', target: target(['a']) }] }),
      ).message,
    ).toContain('source: expected a Source');
    expect(
      configError(() => ring({ name: 'x', target: target(['a']), gates: [{ name: 'g' }] })).message,
    ).toContain('ring.gates[0]: expected exactly one of "run"');
    expect(configError(() => localTarget({ root: '/x', hosts: ['ok', 'not ok'] })).path).toBe(
      'localTarget.hosts[1]',
    );
    expect(configError(() => tarball({ name: 'Bad_Name' })).path).toBe('tarball.name');
  });

  it('allows a policy that can never pass', () => {
    expect(() => ring({ name: 'prod', target: target(['a']), policy: all(freeze(), auto()) })).not.toThrow();
  });

  it('refuses two pipelines with one name in an engine', () => {
    const p = pipeline({ ...base(), rings: [{ name: 'eng', target: target(['a']) }] });
    expect(configError(() => createEngine({ pipelines: [p, p], store: memoryStore() })).path).toBe(
      'pipelines[1].name',
    );
  });
});
