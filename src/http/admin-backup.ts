import type { IncomingMessage } from "node:http";
import { SagaflowError } from "../define/errors.ts";
import type { BackupReport } from "../store/port.ts";
import type { AdminFacade } from "../runtime/facades.ts";
import { readJsonBody } from "./body.ts";

/**
 * `POST /backup {"path": "/absolute/backup.db"}`: an online backup of the SQLite store into one
 * new file, written by the server process (so the path is on the server's machine). 409 on
 * PostgreSQL (use its own tools), when the file exists, or while another backup runs.
 */
export async function backupRoute(admin: AdminFacade, req: IncomingMessage, segments: string[]): Promise<BackupReport> {
  if (req.method !== "POST" || segments.length !== 1) {
    throw new SagaflowError("not_found", 'use POST /backup {"path": "/absolute/path/backup.db"}', { status: 404 });
  }
  const body = await readJsonBody(req, 64 * 1024);
  const path = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as { path?: unknown }).path : undefined;
  if (typeof path !== "string" || path === "") {
    throw new SagaflowError("invalid_backup_path", 'give the backup file as {"path": "/absolute/path/backup.db"}');
  }
  return admin.backup(path);
}
