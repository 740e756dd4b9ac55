/**
 * The page's HTML, drawn on the server. Every value goes through hono's `html` template, which
 * escapes it: a commit message, an author or a gate log holding HTML or script is shown as text.
 * Nothing here decides; it shows the views of `model.ts` and `actions.ts`.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Preview, WebAction } from './actions.js';
import type { HostView, PipelineView, ProjectView, ReleaseView, RingView } from './model.js';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Who is looking, and what they may do where. */
export interface Viewer {
  /** Signed in as; absent when nobody is (or the page has no identities: read-only). */
  user?: string;
  /** Whether identities are configured at all (without, the page is read-only). */
  identities: boolean;
  /** May the viewer do `action` in `pipeline/ring`? */
  can(action: WebAction, pipeline: string, ring: string): boolean;
  /** The CSRF token for the viewer's forms. */
  csrf?: string;
}

const short = (id: string) => id.slice(0, 10);
const time = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
const firstLine = (text: string) => text.split('\n')[0] ?? '';

/** The last lines of an error, where the reason is. */
function tail(text: string, lines = 6): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
}

/** A link to an action's preview, when the viewer may do it. */
function actionLink(
  viewer: Viewer,
  action: WebAction,
  pipeline: string,
  ring: string,
  label: string,
  release?: string,
) {
  if (!viewer.user || !viewer.can(action, pipeline, ring)) return '';
  return html`<a class="action ${action}" data-action="${action}" href="/preview?${query({ action, pipeline, ring, release })}">${label}</a>`;
}

function hostRow(h: HostView): Html {
  const step = h.lastStep;
  return html`<tr class="${h.disabled ? 'disabled' : h.unreachable ? 'unreachable' : h.drift ? 'drift' : ''}">
    <td>${h.name}</td>
    <td>${h.disabled ? html`<span class="tag">disabled</span> by ${h.disabled.by}: <span class="why">${h.disabled.reason}</span> · ` : ''}${h.unreachable ? html`unknown <span class="why">${h.unreachable}</span>` : (h.version ?? h.state)}${h.drift ? html` <span class="tag">drift</span>` : ''}</td>
    <td>${step ? `${step.phase} ${short(step.rollout)} ${step.ok === undefined ? 'under way' : step.ok ? 'ok' : 'failed'} ${time(step.at)}` : '-'}</td>
    <td>${step?.error ? html`<pre class="tail">${tail(step.error)}</pre>` : ''}</td>
  </tr>`;
}

/**
 * A ring's hosts, a row each. Drawn only into an open hosts section (the page loads it when one
 * is opened, and asks for the open ones at each live update): a fleet of thousands of hosts is
 * not drawn into every page.
 */
export function hostsTable(ring: RingView): Html {
  return html`<table class="hosts"><thead><tr><th>host</th><th>version</th><th>last step</th><th>error</th></tr></thead>
      <tbody>${ring.hosts.map(hostRow)}</tbody></table>`;
}

/** The id of a ring's hosts section: the page asks for the open ones by it. */
export const hostsId = (pipeline: string, ring: string) => `hosts-${pipeline}-${ring}`;

function ringColumn(
  pipeline: PipelineView,
  ring: RingView,
  viewer: Viewer,
  openHosts: ReadonlySet<string>,
): Html {
  const p = pipeline.name;
  const c = ring.candidate;
  const rejected = ring.lastFailure?.status === 'rejected' ? ring.lastFailure : undefined;
  const open = openHosts.has(hostsId(p, ring.name));
  const rollbackTo = pipeline.releases.filter(
    (r) => r.rings[ring.name]?.status === 'verified' && r.id !== ring.release?.id,
  );
  return html`<article class="ring action-${ring.action}" id="ring-${p}-${ring.name}" data-ring="${ring.name}">
    <header><h3>${ring.name}</h3><span class="state" data-testid="state">${ring.state}</span></header>
    <p class="release">${ring.release ? html`runs <strong data-testid="release">${ring.release.version}</strong>` : html`<span data-testid="release">runs nothing yet</span>`}</p>
    <ul class="versions">${ring.versions.map((v) => html`<li><span class="v">${v.label}</span> ${v.hosts.length} host${v.hosts.length === 1 ? '' : 's'}</li>`)}</ul>
    ${ring.drift.length ? html`<p class="warn">drift: ${ring.drift.join(', ')}</p>` : ''}
    ${ring.disabled.length ? html`<p class="warn" data-testid="disabled">disabled: ${ring.disabled.map((d) => `${d.host} (by ${d.by}: ${d.reason})`).join('; ')}</p>` : ''}
    ${ring.unreachable.length ? html`<p class="warn">unreachable: ${ring.unreachable.map((u) => `${u.host} (${u.reason})`).join('; ')}</p>` : ''}
    <p class="next" data-testid="next">${ring.summary}</p>
    ${c ? html`<p class="verdict ${c.verdict}">next: ${c.version} — ${c.verdict}: ${c.reason}</p>` : ''}
    ${ring.lastFailure ? html`<div class="failure" data-testid="failure"><strong>${ring.lastFailure.version} ${ring.lastFailure.status}</strong> ${time(ring.lastFailure.at)}${ring.lastFailure.by ? ` by ${ring.lastFailure.by}` : ''}<pre class="tail">${ring.lastFailure.reason}</pre></div>` : ''}
    <p class="policy">policy: ${ring.policy} · rollout: ${ring.rollout}${ring.gates.length ? ` · gates: ${ring.gates.join(', ')}` : ''}</p>
    <nav class="actions">
      ${ring.paused ? actionLink(viewer, 'resume', p, ring.name, `Resume ${ring.paused.rollout} (step ${ring.paused.step} of ${ring.paused.total})`) : ''}
      ${ring.paused ? actionLink(viewer, 'abort', p, ring.name, `Abort ${ring.paused.rollout}`) : ''}
      ${c && c.verdict !== 'promote' ? actionLink(viewer, 'approve', p, ring.name, `Approve ${c.version}`, c.release) : ''}
      ${c ? actionLink(viewer, 'promote', p, ring.name, `Promote ${c.version}`, c.release) : ''}
      ${rollbackTo.slice(0, 3).map((r) => actionLink(viewer, 'rollback', p, ring.name, `Roll back to ${r.version}`, r.id))}
      ${ring.locked ? actionLink(viewer, 'unlock', p, ring.name, 'Unlock') : actionLink(viewer, 'lock', p, ring.name, 'Lock')}
      ${ring.pinned ? actionLink(viewer, 'unpin', p, ring.name, 'Unpin') : ring.release ? actionLink(viewer, 'pin', p, ring.name, `Pin ${ring.release.version}`) : ''}
      ${rejected ? actionLink(viewer, 'allow', p, ring.name, `Allow ${rejected.version} again`, rejected.release) : ''}
    </nav>
    <details id="${hostsId(p, ring.name)}" data-hosts="/hosts?${query({ pipeline: p, ring: ring.name })}" ${open ? 'open' : ''}><summary>hosts (${ring.hosts.length})</summary>
      <div class="hosts-body">${open ? hostsTable(ring) : ''}</div>
    </details>
  </article>`;
}

function releaseRow(pipeline: PipelineView, r: ReleaseView): Html {
  return html`<tr id="release-${pipeline.name}-${r.id}">
    <td><strong>${r.version}</strong><br><span class="dim">${short(r.revision)} · ${time(r.createdAt)}</span></td>
    <td>${r.author}</td>
    <td class="message">${firstLine(r.message)}
      ${r.commits.length > 1 ? html`<details id="commits-${pipeline.name}-${r.id}"><summary>${r.commits.length} commits</summary><ul class="commits">${r.commits.map((c) => html`<li><code>${short(c.id)}</code> ${c.author}: ${firstLine(c.message)}</li>`)}</ul></details>` : ''}</td>
    ${pipeline.rings.map((ring) => {
      const s = r.rings[ring.name];
      return html`<td class="standing ${s?.status ?? 'none'}" title="${s?.reason ?? ''}">${s ? s.status : '·'}</td>`;
    })}
  </tr>`;
}

function pipelineSection(pipeline: PipelineView, viewer: Viewer, openHosts: ReadonlySet<string>): Html {
  return html`<section class="pipeline" id="pipeline-${pipeline.name}">
    <h2>${pipeline.name}</h2>
    ${pipeline.empty ? html`<p class="dim">No release yet: the rings below are drawn from the config, and fill in as the first commit is built.</p>` : ''}
    <div class="rings">${pipeline.rings.map((r) => ringColumn(pipeline, r, viewer, openHosts))}</div>
    <h3>Releases</h3>
    <table class="timeline">
      <thead><tr><th>release</th><th>author</th><th>commit</th>${pipeline.rings.map((r) => html`<th>${r.name}</th>`)}</tr></thead>
      <tbody>${pipeline.releases.length ? pipeline.releases.map((r) => releaseRow(pipeline, r)) : html`<tr><td colspan="${3 + pipeline.rings.length}" class="dim">none yet</td></tr>`}</tbody>
    </table>
  </section>`;
}

/** The part of the page that updates live: every pipeline (with the host rows of `openHosts`). */
export function liveView(
  view: ProjectView,
  viewer: Viewer,
  openHosts: ReadonlySet<string> = new Set(),
): Html {
  return html`<div id="live" data-seq="${view.seq}" data-at="${view.at}">${view.pipelines.map((p) => pipelineSection(p, viewer, openHosts))}</div>`;
}

function userBar(viewer: Viewer): Html {
  if (!viewer.identities) return html`<span class="badge">read-only: no identities configured</span>`;
  if (!viewer.user) return html`<a href="/login">Sign in</a>`;
  return html`<span>signed in as <strong data-testid="user">${viewer.user}</strong></span>
    <form method="post" action="/logout" class="inline"><input type="hidden" name="_csrf" value="${viewer.csrf ?? ''}"><button>Sign out</button></form>`;
}

/** A whole page around `body`. */
export function page(title: string, viewer: Viewer, body: Html, options: { live?: boolean } = {}): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Ringmaster</title><link rel="stylesheet" href="/static/app.css">
${options.live ? html`<script src="/static/app.js" defer></script>` : ''}</head>
<body><header class="top"><a href="/" class="brand">Ringmaster</a> <span class="project">${title}</span>
<nav><a href="/history">History</a> ${userBar(viewer)}</nav><span id="live-status" class="dim"></span></header>
<main>${body}</main></body></html>`;
}

/** The project page: the live view and, above it, an optional message. */
export function projectPage(
  title: string,
  view: ProjectView,
  viewer: Viewer,
  flash?: { ok: boolean; text: string },
): Html {
  return page(
    title,
    viewer,
    html`${flash ? html`<p class="flash ${flash.ok ? 'ok' : 'bad'}" data-testid="flash">${flash.text}</p>` : ''}${liveView(view, viewer)}`,
    { live: true },
  );
}

export function loginPage(title: string, csrf: string, error?: string): Html {
  return page(
    title,
    { identities: true, can: () => false },
    html`<form method="post" action="/login" class="login">
      <h2>Sign in</h2>
      ${error ? html`<p class="flash bad">${error}</p>` : ''}
      <label>Token <input type="password" name="token" autocomplete="current-password" required></label>
      <input type="hidden" name="_csrf" value="${csrf}">
      <button type="submit">Sign in</button>
      <p class="dim">Your token was printed once by <code>ringmaster user add &lt;name&gt;</code>.</p>
    </form>`,
  );
}

/** A preview and the form that confirms it. */
export function previewPage(title: string, viewer: Viewer, p: Preview, nonce: string, notice?: string): Html {
  return page(
    title,
    viewer,
    html`<section class="preview" data-testid="preview">
      ${notice ? html`<p class="flash bad" data-testid="flash">${notice}</p>` : ''}
      <h2>${p.title}</h2>
      <ul>${p.effects.map((e) => html`<li>${e}</li>`)}</ul>
      ${
        p.hosts
          ? html`<h3>Hosts, in order</h3><table class="hosts"><thead><tr><th>batch</th><th>host</th><th>from</th><th>to</th></tr></thead>
        <tbody>${p.hosts.map((h) => html`<tr><td>${h.batch}</td><td>${h.name}</td><td>${h.from}</td><td>${h.to}</td></tr>`)}</tbody></table>`
          : ''
      }
      ${
        p.commits
          ? html`<h3>Commits</h3>
        ${p.commits.note ? html`<p class="dim">${p.commits.note}; from the ledger instead</p>` : ''}
        ${p.commits.added.length ? html`<p>added (${p.commits.added.length}):</p><ul class="commits added">${p.commits.added.map((c) => html`<li><code>${short(c.id)}</code> ${c.author}: ${firstLine(c.message)}</li>`)}</ul>` : ''}
        ${p.commits.removed.length ? html`<p>removed (${p.commits.removed.length}):</p><ul class="commits removed">${p.commits.removed.map((c) => html`<li><code>${short(c.id)}</code> ${c.author}: ${firstLine(c.message)}</li>`)}</ul>` : ''}
        ${!p.commits.added.length && !p.commits.removed.length ? html`<p class="dim">no commits between them</p>` : ''}`
          : ''
      }
      <form method="post" action="/actions">
        <input type="hidden" name="action" value="${p.action}">
        <input type="hidden" name="pipeline" value="${p.pipeline}">
        <input type="hidden" name="ring" value="${p.ring}">
        ${p.release ? html`<input type="hidden" name="release" value="${p.release}">` : ''}
        <input type="hidden" name="fingerprint" value="${p.fingerprint}">
        <input type="hidden" name="nonce" value="${nonce}">
        <input type="hidden" name="_csrf" value="${viewer.csrf ?? ''}">
        <label>${p.reason === 'required' ? 'Reason (required)' : p.action === 'approve' ? 'Comment' : 'Reason'} <input type="text" name="reason" maxlength="500" ${p.reason === 'required' ? 'required' : ''}></label>
        <button type="submit" data-testid="confirm">Confirm</button> <a href="/">Cancel</a>
      </form>
    </section>`,
  );
}

export function messagePage(title: string, viewer: Viewer, heading: string, text: string): Html {
  return page(
    title,
    viewer,
    html`<section class="message"><h2>${heading}</h2><p data-testid="message">${text}</p><p><a href="/">Back to the project</a></p></section>`,
  );
}

/** One history row: seq, time, what, who. */
export interface HistoryRow {
  seq: number;
  time: string;
  type: string;
  pipeline?: string;
  ring?: string;
  by?: string;
  text: string;
}

export function historyPage(
  title: string,
  viewer: Viewer,
  rows: HistoryRow[],
  filter: { pipeline?: string; ring?: string; by?: string },
  total: number,
): Html {
  const q = query(filter);
  return page(
    title,
    viewer,
    html`<section class="history"><h2>History</h2>
      <form method="get" action="/history" class="filters">
        <label>pipeline <input name="pipeline" value="${filter.pipeline ?? ''}"></label>
        <label>ring <input name="ring" value="${filter.ring ?? ''}"></label>
        <label>person <input name="by" value="${filter.by ?? ''}"></label>
        <button>Filter</button>
        <a href="/history.csv?${q}" data-testid="csv">CSV</a> <a href="/history.json?${q}">JSON</a>
      </form>
      <p class="dim">${total} record${total === 1 ? '' : 's'} match; the newest ${rows.length} shown.</p>
      <table class="history"><thead><tr><th>seq</th><th>time</th><th>pipeline</th><th>ring</th><th>who</th><th>what</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr><td>${r.seq}</td><td>${time(r.time)}</td><td>${r.pipeline ?? ''}</td><td>${r.ring ?? ''}</td><td>${r.by ?? ''}</td><td>${r.text}</td></tr>`)}</tbody></table>
    </section>`,
  );
}
