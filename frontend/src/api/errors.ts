/** An error the API answered with: `{"error": {"code", "message"}}` and an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const FALLBACK: Record<number, string> = {
  400: 'The request was not valid.',
  401: 'Your session has ended. Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That conflicts with something that already exists.',
  413: 'The file is too large.',
  422: 'Some fields are not valid.',
  429: 'Too many requests. Please wait a moment and try again.',
  500: 'The server hit a problem. Please try again.',
  502: 'Alice is unavailable right now. Please try again in a moment.',
  503: 'Alice is unavailable right now. Please try again in a moment.',
  504: 'Alice took too long to answer. Please try again.',
};

function field(value: unknown, key: string): unknown {
  return value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

export async function errorFromResponse(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = FALLBACK[res.status] ?? `The server answered ${res.status}. Please try again.`;
  try {
    // `{"error": {code, message}}` (ErrorResponse in the OpenAPI document).
    const body: unknown = await res.json();
    const err = field(body, 'error') ?? body;
    const errCode = field(err, 'code');
    const errMessage = field(err, 'message');
    if (typeof errCode === 'string') code = errCode;
    if (typeof errMessage === 'string' && errMessage) message = errMessage;
  } catch {
    // not JSON: keep the readable fallback
  }
  return new ApiError(res.status, code, message);
}

export function readableError(err: unknown): string {
  // Still unsettled after the client's retries with the same key: it may yet be answered.
  if (err instanceof ApiError && err.code === 'outcome_unknown')
    return 'Alice could not confirm your message in time; it may still arrive. Reload the conversation before sending it again.';
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return 'Cannot reach the server. Check your connection and try again.';
  if (err instanceof Error && err.message) return err.message;
  return 'Something went wrong. Please try again.';
}
