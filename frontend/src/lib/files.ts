import type { DownloadedFile } from '../api/client';
import type { ConversationArchive } from '../api/types';

/** Offers a downloaded file to the user as the browser's own download. */
export function saveFile({ blob, filename }: DownloadedFile): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // Later than the click: some browsers start reading the blob after it returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A chosen file's JSON, for the import: the server checks it is an archive and says what is wrong. */
export async function readJsonFile(file: File): Promise<ConversationArchive> {
  const text = await file.text();
  try {
    return JSON.parse(text) as ConversationArchive;
  } catch {
    throw new Error(`“${file.name}” is not a JSON file. Choose a file that Alice's JSON export wrote.`);
  }
}
