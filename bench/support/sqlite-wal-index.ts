/**
 * Reads SQLite's WAL index (the -shm file, shared memory every connection maps): `mxFrame`, the
 * last valid frame of the WAL, and `nBackfill`, how many of them checkpoints copied into the
 * database. Both restart from 0 when the WAL is reset after a complete checkpoint. Layout from
 * SQLite's wal.c: WalIndexHdr.mxFrame at byte 16, WalCkptInfo.nBackfill at byte 96, native order.
 */
import { closeSync, openSync, readSync } from "node:fs";

export class WalIndex {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(100);
  private mxFrame = 0;
  private nBackfill = 0;

  constructor(private readonly path: string) {}

  /** Frames appended since the last read, and whether a checkpoint copied frames meanwhile. */
  read(): { appended: number; checkpointed: boolean } {
    try {
      this.fd ??= openSync(this.path, "r");
    } catch {
      return { appended: 0, checkpointed: false };
    }
    readSync(this.fd, this.buf, 0, 100, 0);
    const mxFrame = this.buf.readUInt32LE(16);
    const nBackfill = this.buf.readUInt32LE(96);
    const appended = mxFrame >= this.mxFrame ? mxFrame - this.mxFrame : mxFrame;
    const checkpointed = nBackfill > this.nBackfill;
    this.mxFrame = mxFrame;
    this.nBackfill = nBackfill;
    return { appended, checkpointed };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}
