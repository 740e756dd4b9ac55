/**
 * Per-ring vars and secrets: where a secret comes from (a file, a variable, a command), when it
 * is read (only once the release is in the ring), how it reaches gates and health checks (their
 * environment), and that its value is nowhere else — not in the ledger's records or journal
 * files, the notifications, the engine's events, the gate logs or what `describeRecord` says.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  auto,
  ConfigError,
  createEngine,
  describeRecord,
  fileStore,
  type GateOptions,
  isRingmasterError,
  localRepository,
  localTarget,
  manual,
  manualClock,
  memorySource,
  type Notification,
  type Policy,
  pipeline,
  type RingOptions,
  ring,
  ringEnv,
  SecretMask,
  type SecretSource,
  tarball,
} from '../src/index.js';
import { closeAfter, tempDir } from './helpers.js';

const RINGS = ['eng', 'sandbox', 'prod'] as const;
type RingName = (typeof RINGS)[number];

/** A ring of its own for the ring-level tests: one local host. */
const oneRing = async (extra: Partial<RingOptions>) =>
  ring({
    name: 'eng',
    target: localTarget({ root: join(await tempDir(), 'hosts'), hosts: ['eng-1'] }),
    ...extra,
  });

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** Every file under `dir`, read as text. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out;
}

interface SecretWorldOptions {
  policies?: Partial<Record<RingName, Policy>>;
  gates?: Partial<Record<RingName, GateOptions[]>>;
  vars?: Partial<Record<RingName, Record<string, string>>>;
  secrets?: Partial<Record<RingName, Record<string, SecretSource>>>;
  /** The local hosts' health check (run after each install, in the release's folder). */
  healthCheck?: string[];
  /** The targets say they cannot pass environment variables (as an adapter written before them). */
  noEnv?: boolean;
}

/**
 * eng → sandbox → prod on local hosts (two each), a memory source, a file ledger, and everything
 * the engine says collected: notifications, events and errors.
 */
async function secretWorld(options: SecretWorldOptions) {
  const dir = await tempDir('rm-secrets-');
  const clock = manualClock('2026-11-02T09:00:00Z');
  const sent: Notification[] = [];
  const app = pipeline({
    name: 'app',
    source: memorySource({ commits: [{ files: { 'app.txt': 'v1\n' }, message: 'first', author: 'alice' }] }),
    packager: tarball({ name: 'app' }),
    repository: localRepository({ dir: join(dir, 'repo') }),
    rings: RINGS.map((name) => {
      const target = localTarget({
        root: join(dir, 'hosts', name),
        hosts: [`${name}-1`, `${name}-2`],
        ...(options.healthCheck ? { healthCheck: { run: options.healthCheck } } : {}),
      });
      return {
        name,
        target: options.noEnv ? { ...target, capabilities: { ...target.capabilities, env: false } } : target,
        policy: options.policies?.[name] ?? auto(),
        gates: options.gates?.[name] ?? [],
        vars: options.vars?.[name] ?? {},
        secrets: options.secrets?.[name] ?? {},
      };
    }),
    notifiers: [{ name: 'memory', notify: async (n) => void sent.push(n) }],
  });
  const ledgerDir = join(dir, 'ledger');
  const engine = closeAfter(
    createEngine({
      pipelines: [app],
      store: fileStore({ dir: ledgerDir }),
      clock,
      workDir: join(dir, 'work'),
    }),
  );
  const events: unknown[] = [];
  const errors: string[] = [];
  engine.on('record', (record) => events.push(record));
  engine.on('decision', (decision) => events.push(decision));
  engine.on('error', (e) => {
    events.push({ operation: e.operation, message: e.error.message, stack: e.error.stack });
    errors.push(`${e.operation}: ${e.error.message}`);
  });
  const ticks = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await engine.tick();
      clock.advance(60_000);
    }
  };
  const status = async (name: RingName) =>
    (await engine.ledger.read())
      .filter((r) => r.type === 'ring.verified' || r.type === 'ring.failed')
      .filter((r) => (r.data as { ring: string }).ring === name)
      .map((r) => r.type);
  const gateLogs = async () =>
    (await engine.ledger.read())
      .filter((r) => r.type === 'gate.finished')
      .map((r) => r.data as { ring: string; gate: string; ok: boolean; log: string });
  return { dir, ledgerDir, clock, app, engine, sent, events, errors, ticks, status, gateLogs };
}

describe('SecretMask', () => {
  it('masks text but never host names (batches, limit), and masks each line of a multi-line secret', () => {
    const mask = new SecretMask();
    mask.add('shop');
    mask.add('-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----');
    const data = mask.maskData({
      rollout: 'prod#1',
      batches: [['shop-1'], ['shop-2']],
      limit: ['shop-1'],
      reason: 'deployed shop to shop-1; key line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
    });
    expect(data).toEqual({
      rollout: 'prod#1',
      batches: [['shop-1'], ['shop-2']],
      limit: ['shop-1'],
      reason: 'deployed *** to ***-1; key line ***',
    });
  });
});

describe('secret sources', () => {
  it('reads a file, an environment variable and a command, each with its trailing newline trimmed', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'db-password'), 'from-the-file\n');
    process.env.RM_TEST_SECRET_SOURCE = 'from-the-variable';
    try {
      const r = await oneRing({
        vars: { DB_HOST: 'db.eng.internal' },
        secrets: {
          DB_PASSWORD: { file: join(dir, 'db-password') },
          API_TOKEN: { env: 'RM_TEST_SECRET_SOURCE' },
          VAULT_KEY: { command: ['sh', '-c', 'echo from-the-command'] },
        },
      });
      const mask = new SecretMask();
      expect(await ringEnv(r, mask)()).toEqual({
        DB_HOST: 'db.eng.internal',
        DB_PASSWORD: 'from-the-file',
        API_TOKEN: 'from-the-variable',
        VAULT_KEY: 'from-the-command',
      });
      // Each value read is masked from now on; a var is not a secret.
      expect(mask.mask('from-the-file from-the-variable from-the-command db.eng.internal')).toBe(
        '*** *** *** db.eng.internal',
      );
    } finally {
      delete process.env.RM_TEST_SECRET_SOURCE;
    }
  });

  it('a failing command names the secret, the command and its stderr, never the value', async () => {
    // A script, so that the value is in no argv of ours: the error may show the command.
    const script = join(await tempDir(), 'vault.sh');
    await writeFile(script, 'echo half-printed-value\necho "vault: permission denied" >&2\nexit 2\n');
    const r = await oneRing({ secrets: { DB_PASSWORD: { command: ['sh', script] } } });
    const error = await rejectionOf(ringEnv(r, new SecretMask())());
    expect(isRingmasterError(error, 'SECRET')).toBe(true);
    expect(error.message).toContain('DB_PASSWORD');
    expect(error.message).toContain('ring eng');
    expect(error.message).toContain('exited 2');
    expect(error.message).toContain('vault: permission denied');
    expect(error.message).not.toContain('half-printed-value');
    expect(JSON.stringify((error as { details?: unknown }).details)).not.toContain('half-printed-value');
  });

  it('a command that hangs is stopped at its timeout, with the secret named', async () => {
    const r = await oneRing({ secrets: { SLOW: { command: ['sleep', '30'], timeout: '200ms' } } });
    const error = await rejectionOf(ringEnv(r, new SecretMask())());
    expect(isRingmasterError(error, 'SECRET')).toBe(true);
    expect(error.message).toContain('SLOW');
    expect(error.message).toContain('timed out');
  });

  it('a missing file or variable, or a value too short to mask, is a SECRET error naming it', async () => {
    delete process.env.RM_TEST_UNSET;
    const cases: [SecretSource, string][] = [
      [{ file: '/nonexistent/ringmaster/secret' }, '/nonexistent/ringmaster/secret'],
      [{ env: 'RM_TEST_UNSET' }, 'RM_TEST_UNSET is not set'],
      [{ command: ['printf', 'abc'] }, 'shorter than 4 characters'],
      [{ command: ['true'] }, 'empty'],
    ];
    for (const [source, says] of cases) {
      const r = await oneRing({ secrets: { TOKEN: source } });
      const error = await rejectionOf(ringEnv(r, new SecretMask())());
      expect(isRingmasterError(error, 'SECRET')).toBe(true);
      expect(error.message).toContain('TOKEN');
      expect(error.message).toContain(says);
    }
  });

  it('a failed read is not kept: the next use reads again', async () => {
    const dir = await tempDir();
    const file = join(dir, 'later');
    const env = ringEnv(await oneRing({ secrets: { LATER: { file } } }), new SecretMask());
    expect(isRingmasterError(await rejectionOf(env()), 'SECRET')).toBe(true);
    await writeFile(file, 'arrived-now\n');
    expect(await env()).toEqual({ LATER: 'arrived-now' });
  });
});

describe('names and sources are checked where the ring is written', () => {
  const base = async () => ({
    name: 'app',
    source: memorySource({ commits: [{ files: { a: '1' }, message: 'm' }] }),
    packager: tarball({ name: 'app' }),
    repository: localRepository({ dir: join(await tempDir(), 'repo') }),
  });
  const target = async (name: string) =>
    localTarget({ root: join(await tempDir(), 'hosts'), hosts: [`${name}-1`] });

  it('a bad secret name is a ConfigError naming rings[i].secrets.NAME', async () => {
    const rings = [
      { name: 'eng', target: await target('eng') },
      { name: 'sandbox', target: await target('sandbox') },
      { name: 'prod', target: await target('prod'), secrets: { 'db-password': { env: 'X' } } },
    ];
    const error = await rejectionOf((async () => pipeline({ ...(await base()), rings }))());
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).path).toBe('rings[2].secrets.db-password');
    expect(error.message).toContain('not an environment variable name');
  });

  it('refuses RINGMASTER_* names, a name both a var and a secret, and a source of no known kind', async () => {
    const cases: [Partial<RingOptions>, string, string][] = [
      [{ vars: { RINGMASTER_RING: 'x' } }, 'ring.vars.RINGMASTER_RING', "Ringmaster's own"],
      [{ vars: { '1ST': 'x' } }, 'ring.vars.1ST', 'not an environment variable name'],
      [
        { vars: { DB_PASSWORD: 'x' }, secrets: { DB_PASSWORD: { env: 'DB' } } },
        'ring.secrets.DB_PASSWORD',
        'both a var and a secret',
      ],
      [
        { secrets: { TOKEN: { vault: 'secret/db' } as unknown as SecretSource } },
        'ring.secrets.TOKEN',
        '{ file: path }, { env: NAME } or { command: [argv…] }',
      ],
      [{ secrets: { TOKEN: { command: [] } } }, 'ring.secrets.TOKEN.command', 'non-empty argv'],
      [
        { secrets: { TOKEN: { command: ['vault'], timeout: 'soon' } } },
        'ring.secrets.TOKEN.timeout',
        'duration',
      ],
    ];
    for (const [extra, path, says] of cases) {
      const error = await rejectionOf(oneRing(extra));
      expect(error, path).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).path).toBe(path);
      expect(error.message).toContain(says);
    }
  });

  it('loading a config, and asking the engine about the ring, runs no secret command', async () => {
    const marker = join(await tempDir(), 'ran');
    const w = await secretWorld({
      secrets: {
        eng: { TOKEN: { command: ['sh', '-c', 'echo ran > "$1"; echo value-1234', 'sh', marker] } },
      },
    });
    await w.engine.load();
    await w.engine.explain({ pipeline: 'app', ring: 'eng' });
    expect(w.app.rings[0]!.secrets.TOKEN).toEqual({ command: expect.any(Array), timeout: 30_000 });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('secrets in a rollout', () => {
  it('a runner gate gets the ring vars and secrets in its environment (a gate option wins over a var)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'pw'), 'correct-horse-battery\n');
    const w = await secretWorld({
      vars: { eng: { DB_HOST: 'db.eng.internal', REGION: 'from-the-ring' } },
      secrets: { eng: { DB_PASSWORD: { file: join(dir, 'pw') } } },
      gates: {
        eng: [
          {
            name: 'env',
            env: { REGION: 'from-the-gate' },
            run: [
              'sh',
              '-c',
              'test "$DB_PASSWORD" = correct-horse-battery && test "$DB_HOST" = db.eng.internal && test "$REGION" = from-the-gate && test "$RINGMASTER_RING" = eng',
            ],
          },
        ],
      },
    });
    await w.ticks(2);
    expect(await w.status('eng')).toEqual(['ring.verified']);
    expect((await w.gateLogs()).map((g) => [g.gate, g.ok])).toEqual([['env', true]]);
    expect(w.errors).toEqual([]);
  });

  it('a host gate gets them through the target, and fails saying why on a target that cannot pass them', async () => {
    const gates = {
      eng: [
        {
          name: 'on-hosts',
          on: 'hosts' as const,
          run: [
            'sh',
            '-c',
            'test "$TOKEN" = token-1234 && test "$MODE" = canary && test -n "$RINGMASTER_HOST"',
          ],
        },
      ],
    };
    const ok = await secretWorld({
      vars: { eng: { MODE: 'canary' } },
      secrets: { eng: { TOKEN: { command: ['printf', 'token-1234'] } } },
      gates,
    });
    await ok.ticks(2);
    expect(await ok.status('eng')).toEqual(['ring.verified']);

    const old = await secretWorld({
      vars: { eng: { MODE: 'canary' } },
      secrets: { eng: { TOKEN: { command: ['printf', 'token-1234'] } } },
      gates,
      noEnv: true,
    });
    await old.ticks(2);
    expect(await old.status('eng')).toEqual(['ring.failed']);
    expect((await old.gateLogs())[0]?.log).toContain('cannot pass environment variables');
  });

  it('a gate that prints its secret has it masked in the ledger, its journal files, the notifications and the events', async () => {
    const value = 'hunter2-is-not-a-password';
    const w = await secretWorld({
      secrets: { eng: { DB_PASSWORD: { command: ['printf', '%s\\n', value] } } },
      gates: {
        eng: [
          {
            name: 'leaky',
            run: [
              'sh',
              '-c',
              'echo "connecting with $DB_PASSWORD"; echo "refused: $DB_PASSWORD" >&2; exit 1',
            ],
          },
        ],
      },
    });
    await w.ticks(2);
    expect(await w.status('eng')).toEqual(['ring.failed']);
    const [leaky] = await w.gateLogs();
    expect(leaky?.ok).toBe(false);
    expect(leaky?.log).toContain('connecting with ***');
    expect(leaky?.log).toContain('refused: ***');
    const failure = w.sent.find((n) => n.kind === 'gate' && !n.ok);
    expect(failure?.summary).toContain('refused: ***');

    const records = await w.engine.ledger.read();
    const everything = [
      JSON.stringify(records),
      ...(await filesUnder(w.ledgerDir)),
      JSON.stringify(w.sent),
      JSON.stringify(w.events),
      ...records.flatMap((r) => describeRecord(r)),
    ];
    expect(everything.filter((text) => text.includes(value))).toEqual([]);
  });

  it('a ring the release has not reached never reads its secrets; once its policy passes, they are read once for the rollout and its gates', async () => {
    const markers = await tempDir();
    const secretOf = (ringName: RingName): Record<string, SecretSource> => ({
      TOKEN: {
        command: [
          'sh',
          '-c',
          'echo read >> "$1"; echo "token-for-$2"',
          'sh',
          join(markers, ringName),
          ringName,
        ],
      },
    });
    const check = (ringName: RingName): GateOptions => ({
      name: 'token',
      run: ['sh', '-c', `test "$TOKEN" = token-for-${ringName}`],
    });
    const w = await secretWorld({
      policies: { prod: manual({ group: ['bob'] }) },
      secrets: { eng: secretOf('eng'), prod: secretOf('prod') },
      gates: { eng: [check('eng')], prod: [check('prod')] },
      // The health check after each install gets them too (sandbox has none): it is the same read.
      healthCheck: ['sh', '-c', 'case $RINGMASTER_HOST in sandbox-*) exit 0;; esac; test -n "$TOKEN"'],
    });
    await w.ticks(4);
    expect(await w.status('eng')).toEqual(['ring.verified']);
    expect(await w.status('sandbox')).toEqual(['ring.verified']);
    expect((await w.engine.explain({ pipeline: 'app', ring: 'prod' })).action).toBe('wait');
    expect(await readFile(join(markers, 'eng'), 'utf8')).toBe('read\n');
    expect(existsSync(join(markers, 'prod'))).toBe(false);

    await w.engine.approve({ pipeline: 'app', ring: 'prod', release: '1.0.1', by: 'bob' });
    await w.ticks(2);
    expect(await w.status('prod')).toEqual(['ring.verified']);
    expect(await readFile(join(markers, 'prod'), 'utf8')).toBe('read\n');
    expect(w.errors).toEqual([]);
  });

  it('a secret that cannot be read fails the host step with its name, and nothing is installed blind', async () => {
    delete process.env.RM_TEST_NOT_SET;
    const w = await secretWorld({
      secrets: { eng: { TOKEN: { env: 'RM_TEST_NOT_SET' } } },
      healthCheck: ['true'],
    });
    await w.ticks(2);
    const records = await w.engine.ledger.read();
    const finished = records
      .filter((r) => r.type === 'host.finished')
      .map(
        (r) => r.data as { host: string; phase: string; ok: boolean; untouched?: boolean; error?: string },
      );
    expect(finished.map((f) => [f.host, f.phase, f.ok, f.untouched])).toEqual([
      ['eng-1', 'deploy', false, true],
    ]);
    expect(finished[0]?.error).toContain('TOKEN');
    expect(finished[0]?.error).toContain('RM_TEST_NOT_SET is not set');
    const eng = w.app.rings[0]!.target;
    expect(await Promise.all(eng.hosts.map((h) => eng.installed(h.name, 'app')))).toEqual([
      undefined,
      undefined,
    ]);
    expect(await w.status('eng')).toEqual([]);
  });
});

describe('a full rollout with secrets: the value is nowhere but in the commands that needed it', () => {
  it('greps the journal, the records, the notifications, the events, the gate logs and the record descriptions', async () => {
    const value = 'Sup3r-Secret-Value-7f3a';
    const dir = await tempDir();
    await writeFile(join(dir, 'pw'), `${value}\n`);
    // Proves the gate got the value, prints it (to be masked), and finds it in no process's argv.
    const gate: GateOptions = {
      name: 'db',
      run: [
        'sh',
        '-c',
        [
          'test "$DB_PASSWORD" = "$(cat "$PW_FILE")" || exit 3',
          'test "$DB_HOST" = db.internal || exit 4',
          'echo "logging in as app:$DB_PASSWORD"',
          'pattern=$(mktemp); printf %s "$DB_PASSWORD" > "$pattern"',
          'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " 2>/dev/null < "$f"; echo; done | grep -F -q -f "$pattern" && { rm -f "$pattern"; echo "the value is in an argv"; exit 5; }',
          'rm -f "$pattern"',
        ].join('\n'),
      ],
    };
    const everyRing = <T>(v: T) => ({ eng: v, sandbox: v, prod: v });
    const w = await secretWorld({
      vars: everyRing({ DB_HOST: 'db.internal', PW_FILE: join(dir, 'pw') }),
      secrets: everyRing({ DB_PASSWORD: { file: join(dir, 'pw') } }),
      gates: everyRing([gate]),
      // The health check also gets it, and prints it to its output.
      healthCheck: ['sh', '-c', 'test -n "$DB_PASSWORD" && echo "health with $DB_PASSWORD"'],
    });
    await w.ticks(6);
    for (const name of RINGS) expect(await w.status(name), name).toEqual(['ring.verified']);
    const logs = await w.gateLogs();
    expect(logs.map((g) => [g.ring, g.ok])).toEqual([
      ['eng', true],
      ['sandbox', true],
      ['prod', true],
    ]);
    expect(logs.every((g) => g.log.includes('logging in as app:***'))).toBe(true);
    expect(w.sent.length).toBeGreaterThan(0);
    expect(w.errors).toEqual([]);

    const records = await w.engine.ledger.read();
    const places: Record<string, string[]> = {
      'journal files': await filesUnder(w.ledgerDir),
      records: [JSON.stringify(records)],
      notifications: [JSON.stringify(w.sent)],
      events: [JSON.stringify(w.events)],
      'gate logs': logs.map((g) => g.log),
      'record descriptions': records.flatMap((r) => describeRecord(r)),
      'gate descriptions': w.app.rings.flatMap((r) => r.gates.map((g) => g.describe())),
      'the pipeline object': [JSON.stringify(w.app.rings.map((r) => ({ vars: r.vars, secrets: r.secrets })))],
    };
    const found = Object.entries(places)
      .filter(([, texts]) => texts.some((t) => t.includes(value)))
      .map(([where]) => where);
    expect(found).toEqual([]);
    expect(places['journal files']!.length).toBeGreaterThan(0);
  });
});
