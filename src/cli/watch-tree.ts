import { readdirSync, watch, type FSWatcher } from "node:fs";
import { join, relative } from "node:path";

/**
 * Watches every folder under `root` (not node_modules or dot-folders) and calls `changed` with
 * the path of each file that changes. Folders, not files, are watched: editors save by writing a
 * temp file and renaming it over the original, and a watch on the old file (what a recursive
 * `fs.watch` sets up per file on Linux with Node 20) goes quiet after the first such save. New
 * folders are picked up as they appear. Returns a function that stops watching.
 */
export function watchTree(root: string, changed: (file: string) => void): () => void {
  const watchers = new Map<string, FSWatcher>();
  const skip = (name: string) => name === "node_modules" || name.startsWith(".");

  const scan = (dir: string) => {
    if (!watchers.has(dir)) {
      try {
        const watcher = watch(dir, (_event, file) => {
          if (file === null || skip(String(file))) return;
          const path = join(dir, String(file));
          // A rename may have added (or removed) a folder: look again.
          scan(dir);
          changed(relative(root, path));
        });
        watcher.on("error", () => forget(dir));
        watchers.set(dir, watcher);
      } catch {
        return; // gone already
      }
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      forget(dir);
      return;
    }
    for (const entry of entries) if (entry.isDirectory() && !skip(entry.name)) scan(join(dir, entry.name));
  };
  const forget = (dir: string) => {
    watchers.get(dir)?.close();
    watchers.delete(dir);
  };

  scan(root);
  return () => {
    for (const dir of [...watchers.keys()]) forget(dir);
  };
}
