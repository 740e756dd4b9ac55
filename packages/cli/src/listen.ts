/** The addresses `serve --listen` and `watch --serve` take. */
import { RingmasterError } from '@ringmaster/core';

/** `127.0.0.1:8080`, `:8080` (every address), `8080`, `[::1]:8080` → host and port. */
export function parseListen(spec: string, option: string): { host: string; port: number } {
  // [v6]:port, host:port, :port (every address) or port (this machine only).
  const m = /^(?:(?:\[([0-9a-fA-F:]+)\]|([^:\s[\]]*)):)?(\d{1,5})$/.exec(spec.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65_535)
    throw new RingmasterError(
      'CONFIG',
      `${option}: expected host:port, such as 127.0.0.1:8080 or :8080, not "${spec}"`,
      { scope: 'cli' },
    );
  const host = m[1] ?? m[2];
  if (host === undefined) return { host: '127.0.0.1', port };
  return { host: host === '' ? '0.0.0.0' : host, port };
}
