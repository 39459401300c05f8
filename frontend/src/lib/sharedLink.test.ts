import { describe, expect, it } from 'vitest';
import { sharedTokenOf } from './sharedLink';

describe('sharedTokenOf', () => {
  it('reads the token of a shared link and nothing else', () => {
    expect(sharedTokenOf('/s/abc_DEF-123')).toBe('abc_DEF-123');
    expect(sharedTokenOf('/c/abc')).toBeUndefined();
    expect(sharedTokenOf('/')).toBeUndefined();
  });

  it('keeps a malformed escape as typed instead of throwing', () => {
    expect(sharedTokenOf('/s/%E0%A4%A')).toBe('%E0%A4%A');
  });
});
