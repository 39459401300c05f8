import { errorFromResponse } from './errors';
import type { HttpClient } from './http';
import type { UploadResult } from './types';

interface RawAnswer {
  status: number;
  body: string;
}

/** One multipart POST through XHR, which (unlike fetch) reports upload progress. */
function post(url: string, file: File, token: string | null, onProgress: (fraction: number) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => reject(new TypeError('network error'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/** `POST /api/documents` with progress; a 401 renews the session's access token once and retries. */
export async function uploadDocument(
  http: HttpClient,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<UploadResult> {
  let res = await post('/api/documents', file, http.token, onProgress);
  if (res.status === 401 && (await http.refresh())) res = await post('/api/documents', file, http.token, onProgress);
  if (res.status < 200 || res.status >= 300) {
    throw await errorFromResponse(new Response(res.body, { status: res.status }));
  }
  return JSON.parse(res.body) as UploadResult;
}
