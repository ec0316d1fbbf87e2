/** Whether dist/ under `root` is missing or older than a source it is built from (see build-if-stale.mjs). */
export function distIsStale(root: string): boolean;
