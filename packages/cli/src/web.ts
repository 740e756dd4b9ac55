/**
 * The team page from the CLI — `ringmaster serve` (reads the ledger, writes actions through the
 * Store as the CLI does) and `ringmaster watch --serve ADDR` (the engine's process serves it) —
 * and `ringmaster user`, which hands out the tokens people sign in with.
 */
import { RingmasterError } from '@ringmaster/core';
import type { WebServer } from '@ringmaster/web';
import type { Command } from './commands.js';
import type { LoadedProject } from './config.js';
import { parseListen } from './listen.js';
import { EXIT, type Io } from './output.js';
import { flag, json, need, type Parsed, withProject } from './session.js';

async function startPage(project: LoadedProject, spec: string, option: string, io: Io): Promise<WebServer> {
  const { host, port } = parseListen(spec, option);
  // Loaded here, not with the CLI: the page's HTTP stack was about 0.1 s of every other command's
  // start. (The CJS build loads it through import() too, so its ESM build, whose core errors
  // match the CJS core's by brand.)
  const { serveWeb } = await import('@ringmaster/web').catch((error: unknown) => {
    throw new RingmasterError(
      'CONFIG',
      `the team page needs @ringmaster/web: npm install @ringmaster/web (${error instanceof Error ? error.message : String(error)})`,
      { scope: 'cli', cause: error },
    );
  });
  const server = await serveWeb({
    engine: project.engine,
    ...(project.access ? { access: project.access } : {}),
    title: project.config.pipelines.map((p) => p.name).join(', '),
    host,
    port,
    ...(project.config.web?.url ? { url: project.config.web.url } : {}),
    secureCookies: project.config.web?.url?.startsWith('https:') ?? false,
    onError: (error) => io.err(`page: ${error instanceof Error ? error.message : String(error)}`),
  });
  io.err(
    `the team page: ${server.url}${project.access ? '' : ' (read-only: add access to the config for sign-in and actions)'}`,
  );
  return server;
}

/** `watch --serve ADDR`: the page in the engine's own process; undefined without the flag. */
export async function watchServe(
  project: LoadedProject,
  args: Parsed,
  io: Io,
): Promise<WebServer | undefined> {
  const spec = flag(args, 'serve');
  return spec ? startPage(project, spec, '--serve', io) : undefined;
}

export const serveCommand: Command = {
  usage: 'serve [--listen 127.0.0.1:8080]',
  summary: 'serve the team page: every ring live, history, and actions behind sign-in (until stopped)',
  flags: ['--listen   the address (default 127.0.0.1:8080, this machine only; :8080 for every address)'],
  example: 'ringmaster serve --listen :8080',
  run: (args, io, cwd) =>
    withProject(args, cwd, async (project) => {
      const server = await startPage(project, flag(args, 'listen') ?? '127.0.0.1:8080', '--listen', io);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      return EXIT.OK;
    }),
};

export const userCommand: Command = {
  usage: 'user add <name> [--group G]… | user remove <name> | user list [--json]',
  summary: 'give someone a token to sign in with (shown once), take it away, or list who has one',
  flags: [
    '--group   a group for the user (repeat for more); the config can name groups too',
    'The first user needs no token; later ones need RINGMASTER_TOKEN of someone in access.admins',
  ],
  example: 'ringmaster user add alice --group oncall',
  run: (args, io, cwd) =>
    withProject(args, cwd, async (project) => {
      const access = project.access;
      if (!access)
        throw new RingmasterError(
          'CONFIG',
          'access: this project has no identities; add access: { permissions: { … } } to the config first',
          { scope: 'cli' },
        );
      const [action, name] = need(args, 1, 'user add|remove|list');
      if (action === 'list') {
        const users = await access.listUsers();
        if (json(args)) io.out(JSON.stringify({ users }));
        else
          for (const u of users)
            io.out(
              `${u.name.padEnd(16)} ${u.groups.join(', ') || '-'}${u.token ? `  token since ${u.created}` : '  (no token)'}`,
            );
        return EXIT.OK;
      }
      if (!name)
        throw new RingmasterError('CONFIG', `usage: ringmaster user ${action} <name>`, { scope: 'cli' });
      // Who asks: the first user is added by whoever runs this; every later change needs the
      // token of an admin (or, to give one's own token a new value, one's own).
      const token = process.env.RINGMASTER_TOKEN;
      const by = token ? await access.authenticate(token) : undefined;
      if (token && !by)
        throw new RingmasterError('UNAUTHENTICATED', 'RINGMASTER_TOKEN is not a token of this project', {
          scope: 'cli',
        });
      if (action === 'add') {
        const groups = (args.flags.group as unknown as string[] | undefined) ?? [];
        await access.assertMayManage(by, name, groups.length === 0);
        const { token, user } = await access.addUser(name, groups);
        if (json(args)) io.out(JSON.stringify({ user: user.name, groups: user.groups, token }));
        else {
          io.out(token);
          io.err(
            `${user.name} (${user.groups.join(', ') || 'no group'}): the token above is shown only now; give it to them to set as RINGMASTER_TOKEN, or to sign in to the page`,
          );
        }
        return EXIT.OK;
      }
      if (action === 'remove') {
        await access.assertMayManage(by, name, true);
        const removed = await access.removeUser(name);
        if (!removed) throw new RingmasterError('NOT_FOUND', `user ${name} has no token`, { scope: 'cli' });
        io.out(
          json(args)
            ? JSON.stringify({ removed: name })
            : `removed ${name}'s token: they can no longer sign in`,
        );
        return EXIT.OK;
      }
      throw new RingmasterError('CONFIG', `user: unknown action "${action}"; use add, remove or list`, {
        scope: 'cli',
      });
    }),
};
