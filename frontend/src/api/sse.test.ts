import { describe, expect, it } from 'vitest';
import { SSEParser } from './sse';

describe('SSEParser', () => {
  it('reassembles events split across arbitrary chunks', () => {
    const parser = new SSEParser();
    const stream = 'id: 1-0\nevent: token\ndata: {"delta":"Hel"}\n\nid: 1-1\nevent: token\ndata: {"delta":"lo"}\n\n';
    const events = [];
    for (const ch of stream) events.push(...parser.push(ch));
    expect(events).toEqual([
      { id: '1-0', event: 'token', data: '{"delta":"Hel"}' },
      { id: '1-1', event: 'token', data: '{"delta":"lo"}' },
    ]);
  });

  it('handles CRLF (even split between chunks), comments and multi-line data', () => {
    const parser = new SSEParser();
    const out = [
      ...parser.push(': heartbeat\r'),
      ...parser.push('\n\r\nevent: status\r\ndata: a\r'),
      ...parser.push('\ndata: b\r\n\r\n'),
    ];
    expect(out).toEqual([{ event: 'status', data: 'a\nb' }]);
  });

  it('defaults the event type to message and ignores events without data', () => {
    const parser = new SSEParser();
    expect(parser.push('id: 5\n\ndata:x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });
});
