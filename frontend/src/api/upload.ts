import { errorFromResponse } from './errors';
import type { HttpClient } from './http';
import type { UploadResult } from './types';

interface RawAnswer {
  status: number;
  body: string;
}

/** One multipart POST through XHR, which (unlike fetch) reports upload progress. */
function post(
  url: string,
  file: File,
  token: string | null,
  onProgress: (fraction: number) => void,
  conversationId?: string,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => reject(new TypeError('network error'));
    const form = new FormData();
    if (conversationId) form.append('conversation_id', conversationId);
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** `POST /api/documents` with progress; a 401 renews the session's access token once and retries.
 * With `conversationId` the file is that conversation's attachment rather than a library document. */
export async function uploadDocument(
  http: HttpClient,
  file: File,
  onProgress: (fraction: number) => void,
  conversationId?: string,
): Promise<UploadResult> {
  const once = () => post('/api/documents', file, http.token, onProgress, conversationId);
  let res = await once();
  if (res.status === 401 && (await http.refresh())) res = await once();
  if (res.status < 200 || res.status >= 300) {
    throw await errorFromResponse(new Response(res.body, { status: res.status }));
  }
  return JSON.parse(res.body) as UploadResult;
}
