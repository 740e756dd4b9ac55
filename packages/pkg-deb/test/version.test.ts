/** Debian version rules against the real `dpkg --compare-versions`, and version derivation. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  compareVersions,
  deriveVersion,
  isValidVersion,
  parseVersion,
  versionProblem,
} from '../src/index.js';
import { cleanup, ok, revision, tempDir } from './helpers.js';

afterAll(cleanup);

/** A small deterministic PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const UPSTREAM_TOKENS = [
  '0',
  '1',
  '2',
  '9',
  '10',
  '00',
  '01',
  '100',
  'a',
  'b',
  'z',
  'Z',
  'A',
  '.',
  '+',
  '~',
  '~~',
  '.0',
];
const REVISION_TOKENS = ['0', '1', '2', '10', 'a', 'b', '.', '+', '~', '1ubuntu1', '+b1', '~bpo1'];

function generate(rand: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const epochRoll = rand();
  const epoch = epochRoll < 0.7 ? '' : epochRoll < 0.8 ? '0:' : `${Math.floor(rand() * 3)}:`;
  let upstream = pick(['0', '1', '2', '10', '1.0', '01']);
  for (let n = Math.floor(rand() * 5); n > 0; n--) upstream += pick(UPSTREAM_TOKENS);
  if (epoch && rand() < 0.1) upstream += ':1';
  let revision = '';
  if (rand() < 0.5) {
    revision = pick(['0', '1', '2', 'a', '10']);
    for (let n = Math.floor(rand() * 3); n > 0; n--) revision += pick(REVISION_TOKENS);
    if (rand() < 0.1) upstream += '-1';
  }
  return `${epoch}${upstream}${revision ? `-${revision}` : ''}`;
}

/** A version close to `v`: one token inserted, removed or changed, so pairs exercise the subtle rules. */
function mutate(v: string, rand: () => number): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const i = Math.floor(rand() * (v.length + 1));
    const token = ['~', '0', '1', 'a', '.', '+', '9', 'Z', ''][Math.floor(rand() * 9)]!;
    const cut = rand() < 0.5 ? 1 : 0;
    const candidate = v.slice(0, i) + token + v.slice(i + cut);
    if (candidate !== v && isValidVersion(candidate)) return candidate;
  }
  return `${v}~`;
}

const EDGE_CASES: [string, string, number][] = [
  ['1.0~rc1', '1.0', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0', '1.0+b1', -1],
  ['1.0a', '1.0', 1],
  ['1.0a', '1.0+', -1],
  ['1:0.1', '2.0', 1],
  ['1.0', '0:1.0', 0],
  ['1.00', '1.0', 0],
  ['1.0', '1.0-0', 0],
  ['2.0', '10.0', -1],
  ['1.2.3', '1.2', 1],
  ['1.0~beta', '1.0~rc', -1],
  ['1.0-1', '1.0-1.1', -1],
  ['1.0-1~bpo1', '1.0-1', -1],
  ['0.0.9', '0.0.10', -1],
  ['0.0.0+20261128051300.abc1234', '0.0.0+20261128051301.aaaaaaa', -1],
  ['1-2-3', '1-2-3', 0],
  ['1-2-3', '1-2-4', -1],
  ['1:1.0:1', '1:1.0', 1],
  ['9', '10', -1],
  ['1.0.A', '1.0.a', -1],
  ['1.0~a', '1.0~A', 1],
  ['2147483647:1', '2147483646:9', 1],
];

describe('compareVersions', () => {
  it('agrees with hand-picked edge cases (~, epochs, leading zeros, letters before symbols)', () => {
    for (const [a, b, expected] of EDGE_CASES) {
      expect(compareVersions(a, b), `${a} vs ${b}`).toBe(expected);
      expect(compareVersions(b, a), `${b} vs ${a}`).toBe(-expected || 0);
    }
  });

  it('agrees with dpkg --compare-versions on 2,000 generated pairs plus the edge cases', async () => {
    const rand = prng(20261128);
    const pool = Array.from({ length: 400 }, () => generate(rand));
    const pairs: [string, string][] = EDGE_CASES.map(([a, b]) => [a, b]);
    while (pairs.length < 2000) {
      const a = pool[Math.floor(rand() * pool.length)]!;
      pairs.push([a, rand() < 0.6 ? mutate(a, rand) : pool[Math.floor(rand() * pool.length)]!]);
    }
    for (const [a, b] of pairs) {
      expect(versionProblem(a), a).toBeUndefined();
      expect(versionProblem(b), b).toBeUndefined();
    }
    // One dpkg call per pair, asking the one relation our answer claims (lt, eq or gt): these are
    // mutually exclusive, so dpkg saying "true" confirms our three-way result exactly. Two shells
    // share the pairs, so a few thousand short spawns run in two batches.
    const relation = (a: string, b: string) => ['lt', 'eq', 'gt'][compareVersions(a, b) + 1]!;
    const dir = await tempDir('vers');
    const halves = [pairs.slice(0, pairs.length / 2), pairs.slice(pairs.length / 2)];
    const outputs = await Promise.all(
      halves.map(async (half, n) => {
        const script = half
          .map(([a, b]) => `dpkg --compare-versions '${a}' ${relation(a, b)} '${b}'; echo $?`)
          .join('\n');
        const file = join(dir, `pairs-${n}.sh`);
        await writeFile(file, `${script}\n`);
        return ok(['sh', file], { timeoutMs: 120_000 });
      }),
    );
    const lines = outputs.join('').trim().split('\n');
    expect(lines).toHaveLength(pairs.length);
    const mismatches: string[] = [];
    lines.forEach((line, i) => {
      const [a, b] = pairs[i]!;
      if (line !== '0') mismatches.push(`dpkg says "${a} ${relation(a, b)} ${b}" is false (exit ${line})`);
    });
    expect(mismatches).toEqual([]);
  }, 120_000);

  it('sorts a list exactly like dpkg would (epoch beats everything)', () => {
    const sorted = ['1:0.1', '1.10', '1.9', '1.9~rc1', '1.9-1', '0:1.8'].sort(compareVersions);
    expect(sorted).toEqual(['0:1.8', '1.9~rc1', '1.9', '1.9-1', '1.10', '1:0.1']);
  });
});

describe('parseVersion / versionProblem', () => {
  it('splits epoch, upstream and revision at the first colon and the last hyphen', () => {
    expect(parseVersion('2:1.0-rc-3')).toEqual({ epoch: 2, upstream: '1.0-rc', revision: '3' });
    expect(parseVersion('1.0')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
  });

  it.each([
    ['', 'empty'],
    ['1.0 beta', 'invalid character " "'],
    ['1.0;rm -rf', 'invalid character ";"'],
    ['$(reboot)', 'does not start with a digit'],
    ['1.0$(id)', 'invalid character "$"'],
    ['-1', 'upstream version number is empty'],
    ['1:', 'upstream version number is empty'],
    [':1.0', 'epoch in version is empty'],
    ['a:1.0', 'epoch in version is not a number'],
    ['1.0-', 'revision number is empty'],
    ['1.0-1_2', 'invalid character "_" in revision'],
    ['1.0\n', 'invalid character "\\n"'],
    ['99999999999:1', 'epoch in version is too big'],
  ])('refuses %j (%s)', (version, rule) => {
    expect(versionProblem(version)).toContain(rule);
    expect(() => parseVersion(version)).toThrow(rule);
  });
});

describe('deriveVersion', () => {
  it('gives 0.0.<number> for numbered revisions, in commit order', () => {
    const versions = [1, 2, 9, 10, 11, 100, 1234].map((n) => deriveVersion(revision(n)));
    expect(versions[0]).toBe('0.0.1');
    expect([...versions].reverse().sort(compareVersions)).toEqual(versions);
  });

  it('gives 0.0.0+<UTC timestamp>.<short id> without a number, sorting by commit time', () => {
    const early = deriveVersion({
      ...revision(undefined, 'ffffffffffff'),
      time: '2026-11-28T09:59:59+02:00',
    });
    const late = deriveVersion({ ...revision(undefined, '0000000aaaa'), time: '2026-11-28T08:00:00Z' });
    expect(early).toBe('0.0.0+20261128075959.fffffff');
    expect(compareVersions(early, late)).toBeLessThan(0);
  });

  it('takes a template or a function', () => {
    expect(deriveVersion(revision(42, 'abcdef123456'), '1.2.{number}+g{shortid}')).toBe('1.2.42+gabcdef1');
    expect(deriveVersion(revision(42), (r) => `3:${r.number}`)).toBe('3:42');
  });

  it('refuses a derived version that is not a Debian version, naming it', () => {
    expect(() => deriveVersion(revision(1), () => '1.0 final')).toThrow(/"1.0 final".*invalid character/);
    expect(() => deriveVersion(revision(undefined), '1.{number}')).toThrow(/has no number/);
  });
});
