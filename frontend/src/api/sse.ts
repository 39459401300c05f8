/** One Server-Sent Event as dispatched by the parser. */
export interface SSEEvent {
  event: string;
  data: string;
  /** The `id:` field of this event, if it had one. */
  id?: string;
}

/**
 * Incremental `text/event-stream` parser (WHATWG HTML §9.2.6): feed it decoded text in chunks of
 * any size, get back the complete events. Comments (`:` lines, used as heartbeats) are ignored.
 */
export class SSEParser {
  private buffer = '';
  private dataLines: string[] = [];
  private eventType = '';
  private eventId: string | undefined;

  push(chunk: string): SSEEvent[] {
    this.buffer += chunk;
    const events: SSEEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone trailing \r may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === '\r' && match.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SSEEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.eventType = value;
    else if (field === 'id' && !value.includes('\0')) this.eventId = value;
    return null;
  }

  private dispatch(): SSEEvent | null {
    const hadData = this.dataLines.length > 0;
    const event: SSEEvent = { event: this.eventType || 'message', data: this.dataLines.join('\n') };
    if (this.eventId !== undefined) event.id = this.eventId;
    this.dataLines = [];
    this.eventType = '';
    this.eventId = undefined;
    return hadData ? event : null;
  }
}
