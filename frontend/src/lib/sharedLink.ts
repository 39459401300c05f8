/** The token of a shared link's path (`/s/:token`), or undefined for any other path. A malformed
 * escape (`/s/%E0%A4`) is kept as typed: the server answers it as an unknown link. */
export function sharedTokenOf(path: string): string | undefined {
  if (!path.startsWith('/s/')) return undefined;
  const raw = path.slice(3);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
