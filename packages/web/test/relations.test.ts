/**
 * The page says what a release waits for when its package relations keep it out of a ring, as
 * the engine's `explain` does: the ring's state and its next step, with where the needed release is.
 */
import { describe, expect, it } from 'vitest';
import { project } from '../../core/test/relations-fixture.js';
import { createWebApp } from '../src/index.js';

describe('package relations on the page', () => {
  it('shows foo waiting in prod for the bar it needs, with where that bar is', async () => {
    const w = await project({ fooNeeds: { '1.0.1': ['bar (>= 1.0.2)'] } });
    await w.engine.load();
    await w.bar.source.commit({ 'bar.txt': 'v2\n' }, 'bar two', 'bob');
    await w.settle();
    const explain = await w.engine.explain({ pipeline: 'foo', ring: 'prod' });
    const waits = 'needs bar (&gt;= 1.0.2); prod has no bar (bar 1.0.2 is verified in eng, sandbox)';
    expect(explain.summary).toBe(`1.0.1 waits for prod: ${waits.replace('&gt;', '>')}`);
    const { app, close } = createWebApp({ engine: w.engine });
    try {
      const res = await app.request('/');
      expect(res.status).toBe(200);
      const page = await res.text();
      // foo's prod column: its state and its next step.
      const column = page.slice(
        page.indexOf('id="ring-foo-prod"'),
        page.indexOf('</article>', page.indexOf('id="ring-foo-prod"')),
      );
      expect(column).toContain('<span class="state" data-testid="state">waiting: 1.0.1</span>');
      expect(column).toContain(`<p class="next" data-testid="next">1.0.1 waits for prod: ${waits}</p>`);
    } finally {
      close();
    }
  });
});
