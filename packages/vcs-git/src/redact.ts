/**
 * Keeps credentials out of every message: git echoes remote URLs in its errors, and a user may
 * have written `https://user:token@host/repo.git` in the options.
 */

const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi;

/**
 * Returns a function that hides the userinfo of any URL in a text, plus every secret found in
 * `url` (in its raw and percent-decoded forms), wherever git printed it.
 *
 * @example
 * ```ts
 * const redact = redactor('https://bot:s3cret@git.example.com/app.git');
 * redact('fatal: unable to access https://bot:s3cret@git.example.com/') // 'fatal: unable to access https://***@git.example.com/'
 * ```
 */
export function redactor(url: string): (text: string) => string {
  const secrets = new Set<string>();
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/@\s]+)@/i.exec(url);
  if (match?.[1]) {
    for (const part of match[1].split(':')) {
      if (part.length < 3) continue;
      secrets.add(part);
      try {
        secrets.add(decodeURIComponent(part));
      } catch {
        // A malformed escape is kept in its raw form only.
      }
    }
  }
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text.replace(USERINFO, '$1***@');
    for (const secret of ordered) out = out.split(secret).join('***');
    return out;
  };
}
