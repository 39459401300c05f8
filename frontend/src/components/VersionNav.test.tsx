import { describe, expect, it } from 'vitest';
import type { ShownMessage } from '../state/chatStore';
import { versionToShow } from './VersionNav';

const message = (id: string, siblings?: string[]): ShownMessage => ({
  id,
  conversation_id: 'c1',
  role: id.startsWith('m') ? 'user' : 'assistant',
  content: id,
  status: 'completed',
  created_at: '2026-01-01T00:00:00Z',
  siblings,
});

describe('versionToShow (the version shortcuts)', () => {
  // m2 is the 2nd of 2 versions, r2 the 1st of 3; r1 has none.
  const branch = [message('m1', ['m1']), message('r1'), message('m2', ['m0', 'm2']), message('r2', ['r2', 'r3', 'r4'])];

  it('steps the message with the focus in it, when it has versions', () => {
    expect(versionToShow(branch, 'm2', -1)).toBe('m0');
    expect(versionToShow(branch, 'm2', 1)).toBeUndefined(); // the newest already
  });

  it('else steps the last message of the branch that has versions', () => {
    expect(versionToShow(branch, undefined, 1)).toBe('r3');
    expect(versionToShow(branch, 'r1', 1)).toBe('r3');
    expect(versionToShow(branch, undefined, -1)).toBeUndefined();
    expect(versionToShow(branch.slice(0, 3), undefined, -1)).toBe('m0');
    expect(versionToShow(branch.slice(0, 2), undefined, 1)).toBeUndefined();
  });
});
