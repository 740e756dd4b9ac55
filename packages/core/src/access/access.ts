/**
 * Who may do what: users and their groups, tokens that prove who is asking, and permissions per
 * ring and action. The CLI (`RINGMASTER_TOKEN`) and the web page (a login with the same token,
 * then a session) ask the same `Access` before they change anything.
 *
 * A token is shown once, when it is made, and kept only as a salted scrypt hash in the users file
 * (`.ringmaster/users.json`, mode 0600, next to the ledger): a stolen file gives no token. The
 * token names its entry (`rmt_<id>_<secret>`), so checking one is a single hash, not one per user.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ConfigError, parseOptions, RingmasterError } from '../errors.js';
import { durationSchema } from '../model/duration.js';

/** The actions permissions are given for. `deploy` covers promote, deploy, converge and unpin. */
export const ACCESS_ACTIONS = ['approve', 'deploy', 'rollback', 'lock'] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const nameSchema = z.string().regex(NAME, 'expected a name of lower-case letters, digits, ".", "_" or "-"');
const groupList = z.array(z.union([nameSchema, z.literal('*')]));

export const accessOptionsSchema = z
  .object({
    /** Users and their groups. `ringmaster user add` adds users (and groups) to the users file too. */
    users: z
      .record(
        nameSchema,
        z
          .object({
            groups: z.array(nameSchema).default([]),
            /**
             * The names and addresses the user commits as (git's author name and email, svn's
             * user): an approval of their own release is then known as one.
             */
            commits: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .default({}),
    /**
     * Which groups may do what, per ring: keys are `*`, a ring (`prod`), `pipeline/ring` or
     * `pipeline/*`; the first key that names the action decides it, in the order
     * `pipeline/ring`, `ring`, `pipeline/*`, `*`. `*` as a group is any
     * signed-in user. An action no key names is allowed to nobody.
     *
     * @example { '*': { lock: ['dev', 'oncall'] }, prod: { approve: ['oncall'], deploy: ['oncall'], rollback: ['oncall'] } }
     */
    permissions: z
      .record(
        z
          .string()
          .regex(
            /^(\*|[a-z0-9][a-z0-9._-]*(\/(\*|[a-z0-9][a-z0-9._-]*))?)$/,
            'expected *, a ring, pipeline/ring or pipeline/*',
          ),
        z
          .object({
            approve: groupList.optional(),
            deploy: groupList.optional(),
            rollback: groupList.optional(),
            lock: groupList.optional(),
          })
          .strict(),
      )
      .default({}),
    /**
     * The groups whose members may add and remove users (`ringmaster user add`). The first user
     * is added without a token; every later change needs one of an admin. @default none
     */
    admins: z.array(nameSchema).default([]),
    /**
     * The groups whose members may deploy through a freeze (`ringmaster deploy … --break-glass
     * --reason`), recorded and notified. @default nobody
     */
    breakGlass: z.array(nameSchema).min(1).optional(),
    /** The users file: token hashes (relative to the config). @default '.ringmaster/users.json' */
    tokens: z.string().default('.ringmaster/users.json'),
    /**
     * A trusted reverse proxy that signs people in (SSO in front of the page): the header naming
     * the user, accepted only from these addresses. Off unless set.
     */
    proxy: z
      .object({
        header: z.string().regex(/^[A-Za-z0-9-]+$/, 'expected an HTTP header name'),
        from: z.array(z.string().min(1)).min(1),
      })
      .strict()
      .optional(),
    /** How long a page session lasts. @default '8h' */
    sessionTtl: durationSchema.default(8 * 3_600_000),
  })
  .strict();

export type AccessOptions = z.input<typeof accessOptionsSchema>;

/** Someone whose identity checked out, and how. */
export interface Principal {
  readonly name: string;
  readonly groups: readonly string[];
  /** How they proved it: a token (CLI, API), a page session, or the trusted proxy. */
  readonly method: 'token' | 'session' | 'proxy';
  /** The public half of the token they signed in with (a session ends when it is replaced). */
  readonly tokenId?: string;
  /** The names and addresses they commit as (the config's `users.<name>.commits`). */
  readonly commitsAs?: readonly string[];
}

/** One user in the users file. */
interface StoredUser {
  name: string;
  groups: string[];
  /** The token's public half, which finds the entry. */
  id: string;
  salt: string;
  hash: string;
  created: string;
}

interface UsersFile {
  version: 1;
  users: StoredUser[];
}

const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
/** A users-file lock older than this was left by a process that died. */
const LOCK_STALE_MS = 30_000;
const TOKEN = /^rmt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, SCRYPT, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** The groups a permission names that let `principal` do it. */
function admits(groups: readonly string[], principal: Principal): boolean {
  return groups.includes('*') || groups.some((g) => principal.groups.includes(g));
}

/**
 * Users, tokens and permissions of one project.
 *
 * @example
 * ```ts
 * const access = createAccess({ users: { alice: { groups: ['oncall'] } }, permissions: { prod: { approve: ['oncall'] } } }, '/srv/app/.ringmaster/users.json');
 * const { token } = await access.addUser('alice');            // shown once
 * const alice = await access.authenticate(token);              // { name: 'alice', groups: ['oncall'], method: 'token' }
 * access.authorize(alice!, 'approve', 'foostat', 'prod');      // returns quietly; throws FORBIDDEN otherwise
 * ```
 */
export class Access {
  readonly options: z.output<typeof accessOptionsSchema>;

  constructor(
    options: AccessOptions,
    /** The users file, an absolute path. */
    readonly file: string,
  ) {
    this.options = parseOptions(accessOptionsSchema, options, 'access', 'access');
  }

  /** The users file as it is now (it may change under a running server: `user add`). */
  private async read(): Promise<UsersFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: [] };
      throw new RingmasterError(
        'CONFIG',
        `cannot read the users file ${this.file}: ${(error as Error).message}`,
        {
          scope: 'access',
          cause: error,
        },
      );
    }
    try {
      const parsed = JSON.parse(text) as UsersFile;
      if (parsed.version !== 1 || !Array.isArray(parsed.users)) throw new Error('not a version 1 users file');
      return parsed;
    } catch (error) {
      throw new ConfigError(
        'access.tokens',
        `${this.file} is not a users file: ${(error as Error).message}`,
        {
          scope: 'access',
        },
      );
    }
  }

  /** Writes the users file whole: a temporary file, fsync'd, renamed over it; mode 0600. */
  private async write(file: UsersFile): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }

  /** Who `name` is: their groups and the names they commit as. */
  private identityOf(
    name: string,
    stored?: StoredUser,
  ): { name: string; groups: string[]; commitsAs?: string[] } {
    const commits = this.options.users[name]?.commits ?? [];
    return {
      name,
      groups: this.groupsOf(name, stored),
      ...(commits.length ? { commitsAs: [...commits] } : {}),
    };
  }

  /** The groups of `name`: from the config and from the users file. */
  private groupsOf(name: string, stored?: StoredUser): string[] {
    return [...new Set([...(this.options.users[name]?.groups ?? []), ...(stored?.groups ?? [])])].sort();
  }

  /**
   * Adds a user (or gives a known one a new token, which replaces the old) with `groups` on top
   * of the config's, and returns the token: the only time it is shown.
   */
  async addUser(name: string, groups: readonly string[] = []): Promise<{ token: string; user: Principal }> {
    const checked = parseOptions(
      z.object({ name: nameSchema, groups: z.array(nameSchema) }).strict(),
      { name, groups: [...groups] },
      'access',
      'user',
    );
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const salt = randomBytes(16);
    const hash = await hashSecret(secret, salt);
    return this.locked(async () => {
      const file = await this.read();
      const before = file.users.find((u) => u.name === checked.name);
      const stored: StoredUser = {
        name: checked.name,
        groups: [...new Set([...(before?.groups ?? []), ...checked.groups])].sort(),
        id,
        salt: salt.toString('base64'),
        hash: hash.toString('base64'),
        created: new Date().toISOString(),
      };
      await this.write({ version: 1, users: [...file.users.filter((u) => u.name !== checked.name), stored] });
      return {
        token: `rmt_${id}_${secret}`,
        user: { ...this.identityOf(stored.name, stored), method: 'token', tokenId: id },
      };
    });
  }

  /** Removes a user's token: they can no longer sign in. False when there was none. */
  async removeUser(name: string): Promise<boolean> {
    return this.locked(async () => {
      const file = await this.read();
      const users = file.users.filter((u) => u.name !== name);
      if (users.length === file.users.length) return false;
      await this.write({ version: 1, users });
      return true;
    });
  }

  /**
   * Runs a read-change-write of the users file alone: two `user add` at once each keep the
   * other's user. The lock is a file made with O_EXCL beside it; one left by a process that
   * died is taken over after LOCK_STALE_MS.
   */
  private async locked<T>(work: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true });
    const lock = `${this.file}.lock`;
    for (let attempt = 0; ; attempt++) {
      try {
        await (await open(lock, 'wx', 0o600)).close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) await rm(lock, { force: true });
        else if (attempt >= 250)
          throw new RingmasterError('LOCKED', `the users file is locked (${lock}); try again`, {
            scope: 'access',
          });
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    try {
      return await work();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /** Every user: from the config and the users file, with whether they have a token. */
  async listUsers(): Promise<{ name: string; groups: string[]; token: boolean; created?: string }[]> {
    const file = await this.read();
    const names = new Set([...Object.keys(this.options.users), ...file.users.map((u) => u.name)]);
    return [...names].sort().map((name) => {
      const stored = file.users.find((u) => u.name === name);
      return {
        name,
        groups: this.groupsOf(name, stored),
        token: stored !== undefined,
        ...(stored ? { created: stored.created } : {}),
      };
    });
  }

  /**
   * Throws unless `by` may add, re-issue or remove `user`'s token: anyone while the users file has
   * no user yet (the first one), else a member of an `admins` group — or `user` themself, when
   * `ownAllowed` (a new value for one's own token, without new groups; removing one's own).
   */
  async assertMayManage(by: Principal | undefined, user: string, ownAllowed: boolean): Promise<void> {
    const file = await this.read();
    if (file.users.length === 0) return;
    if (!by)
      throw new RingmasterError(
        'UNAUTHENTICATED',
        'users exist already: set RINGMASTER_TOKEN to the token of someone in an admins group to add or remove one',
        { scope: 'access' },
      );
    if (by.groups.some((g) => this.options.admins.includes(g))) return;
    if (by.name === user && ownAllowed) return;
    throw new RingmasterError(
      'FORBIDDEN',
      `${by.name} may not manage users: ${
        this.options.admins.length
          ? `only the group${this.options.admins.length === 1 ? '' : 's'} ${this.options.admins.join(', ')} may`
          : "no group may (add access.admins: ['ops'] to the config)"
      }; anyone may give their own token a new value`,
      { scope: 'access', details: { user: by.name, admins: [...this.options.admins] } },
    );
  }

  /** The user a token belongs to, or undefined when it is not a token of this project. */
  async authenticate(token: string): Promise<Principal | undefined> {
    const match = TOKEN.exec(token.trim());
    if (!match) return undefined;
    const stored = (await this.read()).users.find((u) => u.id === match[1]);
    // Hash even for an unknown id, so a wrong id takes as long as a wrong secret.
    const salt = stored ? Buffer.from(stored.salt, 'base64') : randomBytes(16);
    const hash = await hashSecret(match[2]!, salt);
    if (!stored) return undefined;
    const expected = Buffer.from(stored.hash, 'base64');
    if (expected.length !== hash.length || !timingSafeEqual(expected, hash)) return undefined;
    return { ...this.identityOf(stored.name, stored), method: 'token', tokenId: stored.id };
  }

  /**
   * A known user by name (config or users file), for a session or the trusted proxy: their
   * groups as they are now. Undefined for a name the project does not know — and, given the
   * `tokenId` a session was opened with, once that token was removed or replaced.
   */
  async principal(
    name: string,
    method: 'session' | 'proxy',
    tokenId?: string,
  ): Promise<Principal | undefined> {
    const stored = (await this.read()).users.find((u) => u.name === name);
    if (!stored && !this.options.users[name]) return undefined;
    if (tokenId !== undefined && stored?.id !== tokenId) return undefined;
    return { ...this.identityOf(name, stored), method };
  }

  /** The groups that may do `action` in `pipeline/ring` (the most specific key that says). */
  allowedGroups(action: AccessAction, pipeline: string, ring: string): readonly string[] {
    const p = this.options.permissions;
    // A ring's own rule (usually the strict one: prod) wins over a pipeline's wildcard.
    for (const key of [`${pipeline}/${ring}`, ring, `${pipeline}/*`, '*']) {
      const groups = p[key]?.[action];
      if (groups) return groups;
    }
    return [];
  }

  /** Whether `principal` may do `action` in `pipeline/ring`. */
  can(principal: Principal, action: AccessAction, pipeline: string, ring: string): boolean {
    return admits(this.allowedGroups(action, pipeline, ring), principal);
  }

  /** Throws `FORBIDDEN`, naming who may, unless `principal` may do `action` in `pipeline/ring`. */
  authorize(principal: Principal, action: AccessAction, pipeline: string, ring: string): void {
    if (this.can(principal, action, pipeline, ring)) return;
    const groups = this.allowedGroups(action, pipeline, ring);
    throw new RingmasterError(
      'FORBIDDEN',
      `${principal.name} may not ${action} in ${pipeline}/${ring}: ${
        groups.length
          ? `only the group${groups.length === 1 ? '' : 's'} ${groups.join(', ')} may`
          : `no group may (add access.permissions.${ring}.${action} to the config)`
      }; ${principal.name} is in ${principal.groups.length ? principal.groups.join(', ') : 'no group'}`,
      { scope: 'access', details: { user: principal.name, action, pipeline, ring, groups: [...groups] } },
    );
  }

  /**
   * Checks the config against the pipelines: every permission key names a pipeline or ring
   * there is. Throws a ConfigError naming the key.
   */
  check(pipelines: readonly { name: string; rings: readonly { name: string }[] }[]): void {
    const rings = new Set(pipelines.flatMap((p) => p.rings.map((r) => r.name)));
    for (const key of Object.keys(this.options.permissions)) {
      if (key === '*') continue;
      const [a, b] = key.split('/');
      const known =
        b === undefined
          ? rings.has(a!)
          : pipelines.some((p) => p.name === a && (b === '*' || p.rings.some((r) => r.name === b)));
      if (!known)
        throw new ConfigError(
          `access.permissions.${key}`,
          `names no ${b === undefined ? 'ring' : 'pipeline/ring'} of this project; rings: ${[...rings].join(', ')}`,
          { scope: 'access' },
        );
    }
  }
}

/** Makes the access control of a project (see `Access`). */
export function createAccess(options: AccessOptions, file: string): Access {
  return new Access(options, file);
}
