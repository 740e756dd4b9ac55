/** onceEach: a callback told once per key, with the oldest key forgotten past its bound. */
import { describe, expect, it } from 'vitest';
import { onceEach } from '../src/adapter.js';

describe('onceEach', () => {
  it('tells each key once, forgets the oldest past its bound, and counts a throwing call as told', () => {
    const told: string[] = [];
    const tell = onceEach(
      (s: string) => s,
      (s) => {
        if (s === 'boom') throw new Error('boom');
        told.push(s);
      },
      2,
    );
    for (const s of ['a', 'b', 'a', 'b']) tell(s);
    expect(told).toEqual(['a', 'b']);
    tell('c'); // remembers b and c: a is forgotten
    tell('b');
    tell('a');
    expect(told).toEqual(['a', 'b', 'c', 'a']);
    expect(() => tell('boom')).toThrow('boom');
    expect(() => tell('boom')).not.toThrow();
  });
});
