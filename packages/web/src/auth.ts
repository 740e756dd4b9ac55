/**
 * Sign-in for the page: a login with the user's token opens a session (a random id in an
 * HttpOnly, SameSite=Strict cookie; the token itself is never kept), which ends after the
 * project's `sessionTtl` or at sign-out. Every form carries a CSRF token bound to the session,
 * failed logins are rate-limited per address, and a trusted reverse proxy may sign people in
 * with a header — only from the addresses the config names.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Access, Principal } from '@ringmaster/core';

interface Session {
  user: string;
  /** The token it was opened with: removing or replacing it ends the session. */
  tokenId: string;
  expires: number;
}

/** Failed logins allowed per address in a window, before 429. */
export const LOGIN_LIMIT = { attempts: 5, windowMs: 60_000 };

export class Sessions {
  private readonly sessions = new Map<string, Session>();
  /** Signs CSRF tokens; new at every start, so forms from before a restart are refused. */
  private readonly key = randomBytes(32);
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly access: Access,
    private readonly now: () => number = Date.now,
  ) {}

  get ttlMs(): number {
    return this.access.options.sessionTtl;
  }

  /** Opens a session for a user who signed in with a token; returns its id (the cookie's value). */
  open(user: Principal): string {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { user: user.name, tokenId: user.tokenId ?? '', expires: this.now() + this.ttlMs });
    return id;
  }

  close(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** The signed-in user of a session, with their groups as they are now; undefined when expired. */
  async principal(id: string | undefined): Promise<Principal | undefined> {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expires <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    const principal = await this.access.principal(session.user, 'session', session.tokenId);
    if (!principal) this.sessions.delete(id); // the token was removed or replaced
    return principal;
  }

  /** The user a trusted proxy names, when the request came from one of its addresses. */
  async fromProxy(address: string | undefined, headers: (name: string) => string | undefined) {
    const proxy = this.access.options.proxy;
    if (!proxy || !address) return undefined;
    const plain = address.replace(/^::ffff:/, '');
    if (!proxy.from.includes(plain) && !proxy.from.includes(address)) return undefined;
    const name = headers(proxy.header)?.trim();
    return name ? this.access.principal(name, 'proxy') : undefined;
  }

  /** The CSRF token of a principal key (a session id, `proxy:<user>`, `login:<nonce>`). */
  csrf(subject: string): string {
    return createHmac('sha256', this.key).update(subject).digest('base64url');
  }

  checkCsrf(subject: string, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.csrf(subject));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** False when `address` failed too many logins lately (then the caller answers 429). */
  mayTryLogin(address: string): boolean {
    const since = this.now() - LOGIN_LIMIT.windowMs;
    // Forget addresses whose failures are all older than the window (the map stays small).
    if (this.failures.size > 1000)
      for (const [a, times] of this.failures) if ((times.at(-1) ?? 0) <= since) this.failures.delete(a);
    const recent = (this.failures.get(address) ?? []).filter((t) => t > since);
    if (recent.length) this.failures.set(address, recent);
    else this.failures.delete(address);
    return recent.length < LOGIN_LIMIT.attempts;
  }

  loginFailed(address: string): void {
    this.failures.set(address, [...(this.failures.get(address) ?? []), this.now()]);
  }

  /** Seconds until `address` may try again. */
  retryAfter(address: string): number {
    const oldest = (this.failures.get(address) ?? [])[0] ?? this.now();
    return Math.max(1, Math.ceil((oldest + LOGIN_LIMIT.windowMs - this.now()) / 1000));
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expires <= now) this.sessions.delete(id);
  }
}
