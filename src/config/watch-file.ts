import fs from 'node:fs';
import path from 'node:path';

export interface WatchOptions {
  /** Quiet time after the last event before reading the file; editors write in bursts. Default 200. */
  debounceMs?: number;
  /** Read failures other than "file missing", watcher failures, and exceptions thrown by onChange. */
  onError?: (err: Error) => void;
}

/**
 * Calls `onChange` with the file's new content after each burst of changes.
 *
 * Watches the directory, not the file: editors and deploy tools replace the
 * file (write a temp file, rename it over), which detaches a watch on the old
 * inode. Names starting with `..` also count, because Kubernetes mounts a
 * ConfigMap as symlinks and swaps a `..data` link instead of touching the file.
 * While the file is missing (between unlink and rename) nothing is called.
 *
 * This only reports content. Keeping the previous good config is the caller's
 * job: parse the text, apply it only when the parse is ok, and otherwise log
 * the errors and keep running on what is applied. onChange may be called with
 * unchanged content (a touch, a save without edits); applying is idempotent.
 *
 * Returns a function that stops watching (and drops a pending call).
 */
export function watchWorkspaceFile(filePath: string, onChange: (text: string) => void, opts: WatchOptions = {}): () => void {
  const debounceMs = opts.debounceMs ?? 200;
  const resolved = path.resolve(filePath);
  const base = path.basename(resolved);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const report = (err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    // Without a handler, surface the failure rather than swallow it.
    if (opts.onError) opts.onError(error);
    else throw error;
  };

  const fire = (): void => {
    timer = undefined;
    if (stopped) return;
    let text: string;
    try {
      text = fs.readFileSync(resolved, 'utf8');
    } catch (err) {
      // Missing: mid-replace or deleted; the next event (the rename) brings it back.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') report(err);
      return;
    }
    try {
      onChange(text);
    } catch (err) {
      report(err);
    }
  };

  const watcher = fs.watch(path.dirname(resolved), (_event, filename) => {
    // filename is null on platforms that do not report it: then any event may be ours.
    if (filename !== null && filename !== base && !filename.startsWith('..')) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  });
  watcher.on('error', report);

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
