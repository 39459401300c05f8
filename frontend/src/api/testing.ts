// Test helpers: a scripted fake of the reply-stream endpoint (unit tests only).

export interface SseFrame {
  id?: string;
  event: string;
  data: unknown;
}

export function frame({ id, event, data }: SseFrame): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A streaming Response whose body yields the given chunks, then ends (or errors). */
export function sseResponse(chunks: string[], opts: { failAfter?: boolean; status?: number } = {}): Response {
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(encoder.encode(chunks[i++]));
      else if (opts.failAfter) controller.error(new TypeError('network error'));
      else controller.close();
    },
  });
  return new Response(body, { status: opts.status ?? 200, headers: { 'Content-Type': 'text/event-stream' } });
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export interface RecordedRequest {
  url: string;
  init: RequestInit;
  headers: Record<string, string>;
}

/** A fetch that answers each call from the queue in order and records what it was asked. */
export function scriptedFetch(answers: Array<Response | Error | (() => Response | Error)>) {
  const calls: RecordedRequest[] = [];
  const fn = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    calls.push({ url: String(input), init, headers: { ...(init.headers as Record<string, string>) } });
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${String(input)}`);
    const value = typeof next === 'function' ? next() : next;
    if (value instanceof Error) throw value;
    return value;
  };
  return { fetch: fn as typeof fetch, calls };
}
