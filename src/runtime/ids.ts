import { errors } from "../define/errors.ts";

export const maxIdLength = 256;
const idPattern = /^[A-Za-z0-9_.:@+=~-]+$/;

/**
 * Instance ids appear in URLs, logs and keys: printable, no "/" or control characters, at most
 * 256 characters, and not "." or ".." (which URL handling would swallow).
 */
export function checkId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0) throw errors.invalidId(String(id), "must be a non-empty string");
  if (id.length > maxIdLength) throw errors.invalidId(id, `longer than ${maxIdLength} characters`);
  if (!idPattern.test(id)) {
    throw errors.invalidId(id, "use letters, digits and _ . : @ + = ~ - only");
  }
  if (id === "." || id === "..") throw errors.invalidId(id, '"." and ".." are not ids');
  return id;
}

export const maxIdempotencyKeyLength = 256;

export function checkIdempotencyKey(key: string): string {
  if (key.length === 0 || key.length > maxIdempotencyKeyLength || /[\u0000-\u001f]/.test(key)) {
    throw errors.invalidInput(
      `idempotency key must be 1 to ${maxIdempotencyKeyLength} printable characters`,
    );
  }
  return key;
}
