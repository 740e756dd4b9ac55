/**
 * The page's stylesheet and its one small script, served from the package (no build step, no
 * CDN: the Content-Security-Policy allows only this origin).
 *
 * The script follows the ledger: an EventSource on /events says the seq moved, and it fetches
 * /live (with the host rows of the open hosts sections) and swaps the view in place, keeping open
 * sections open. One fetch at a time; changes that come in meanwhile are folded into the next.
 * A ring's host rows are fetched from /hosts when its section is opened.
 */
export const APP_JS = `'use strict';
(() => {
  const status = document.getElementById('live-status');
  const say = (text) => { if (status) status.textContent = text; };
  const current = () => Number(document.getElementById('live')?.dataset.seq ?? 0);
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const live0 = document.getElementById('live');
        const open = live0 ? [...live0.querySelectorAll('details[open][data-hosts]')].map((d) => d.id) : [];
        const res = await fetch('/live?open=' + encodeURIComponent(open.join(',')), { credentials: 'same-origin', headers: { accept: 'text/html' } });
        if (res.status === 401) { say('signed out: reload to sign in'); return; }
        if (!res.ok) { say('live: ' + res.status); return; }
        const tpl = document.createElement('template');
        tpl.innerHTML = await res.text();
        const next = tpl.content.getElementById('live');
        const live = document.getElementById('live');
        if (!next || !live) return;
        for (const open of live.querySelectorAll('details[open][id]')) {
          next.querySelector('#' + CSS.escape(open.id))?.setAttribute('open', '');
        }
        live.replaceWith(next);
        document.dispatchEvent(new CustomEvent('ringmaster:updated', { detail: { seq: Number(next.dataset.seq) } }));
      } while (again);
    } catch (error) {
      say('live: ' + error.message);
    } finally {
      busy = false;
    }
  }
  // A ring's hosts are loaded when its section is opened ('toggle' does not bubble: capture it).
  document.addEventListener('toggle', async (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open || !details.dataset.hosts) return;
    const body = details.querySelector('.hosts-body');
    if (!body || body.childElementCount > 0) return;
    const res = await fetch(details.dataset.hosts, { credentials: 'same-origin' });
    if (res.ok) body.innerHTML = await res.text();
  }, true);
  if (!document.getElementById('live')) return;
  const events = new EventSource('/events');
  events.addEventListener('open', () => say('live'));
  events.addEventListener('error', () => say('reconnecting…'));
  events.addEventListener('ledger', (event) => {
    const { seq } = JSON.parse(event.data);
    if (seq !== current()) refresh();
  });
})();
`;

export const APP_CSS = `:root { --fg: #1d2430; --dim: #69717d; --line: #d8dde4; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; background: #1d2430; color: #fff; }
header.top a { color: #fff; } header.top nav { margin-left: auto; display: flex; gap: 1rem; align-items: center; }
.brand { font-weight: 700; text-decoration: none; } .project { opacity: .8; }
main { padding: 1rem 1.2rem; }
h2 { margin: .4rem 0 .8rem; } h3 { margin: .2rem 0; }
.rings { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(16rem, 1fr); gap: .8rem; overflow-x: auto; }
.ring { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .7rem .8rem; }
.ring header { display: flex; justify-content: space-between; align-items: baseline; gap: .5rem; }
.ring .state { font-size: 12px; padding: .1rem .45rem; border-radius: 9px; background: #eef1f4; }
.action-resume .state { background: #dbeafe; } .action-locked .state, .action-pinned .state { background: #fde2e1; }
.action-wait .state, .action-blocked .state { background: #fff4d6; } .action-verifying .state { background: #e6f4ea; }
.versions { list-style: none; padding: 0; margin: .3rem 0; } .versions .v { font-family: ui-monospace, monospace; }
.warn { color: var(--warn); margin: .2rem 0; } .next { margin: .4rem 0; }
.verdict { font-size: 13px; color: var(--dim); } .policy { font-size: 12px; color: var(--dim); }
.failure { border-left: 3px solid var(--bad); padding: .2rem .5rem; background: #fff5f5; margin: .4rem 0; }
pre.tail { white-space: pre-wrap; word-break: break-word; font-size: 12px; margin: .2rem 0; max-height: 9rem; overflow: auto; }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; margin: .4rem 0; }
.actions a { font-size: 12px; padding: .15rem .5rem; border: 1px solid var(--line); border-radius: 4px; text-decoration: none; background: #fafbfc; }
table { border-collapse: collapse; width: 100%; background: #fff; } th, td { border-bottom: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
table.hosts { font-size: 12px; } tr.drift td { background: #fffbe6; } tr.unreachable td { background: #fff1f0; }
.timeline { margin-top: .4rem; } .standing.verified { color: var(--ok); } .standing.rejected, .standing.failed { color: var(--bad); }
.message { max-width: 32rem; } .dim, .why { color: var(--dim); } .tag { font-size: 11px; color: var(--warn); }
.flash { padding: .5rem .7rem; border-radius: 4px; } .flash.ok { background: #e6f4ea; } .flash.bad { background: #fde2e1; }
.badge { font-size: 12px; padding: .1rem .5rem; border: 1px solid #fff6; border-radius: 9px; }
form.inline { display: inline; } form.login, .preview, .message { max-width: 52rem; background: #fff; padding: 1rem; border: 1px solid var(--line); border-radius: 6px; }
label { display: block; margin: .5rem 0; } input[type=text], input[type=password] { width: 100%; padding: .35rem; }
.filters label { display: inline-block; margin-right: .6rem; } .filters input { width: 9rem; }
section.pipeline { margin-bottom: 2rem; }
`;
