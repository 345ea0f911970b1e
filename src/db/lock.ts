// An exclusive lock file for the embedded database. PGlite takes no lock of its own, and two processes
// opening one data directory corrupt it, so every opener holds `<dir>.lock` (O_EXCL, our pid inside).
// A lock left by a process that no longer exists is taken over. A lock file naming our own pid is
// stale (a previous incarnation with a reused pid, e.g. pid 1 in a container) unless this process
// holds it: those are tracked here, so a second open in the same process is refused too.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { SignetError } from "../../ca/errors.js";

const heldByThisProcess = new Set<string>();

export interface FileLock {
  readonly path: string;
  release(): void;
}

function holderAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function acquireLock(path: string): FileLock {
  const key = resolve(path);
  if (heldByThisProcess.has(key)) {
    throw new SignetError("database_locked", `the embedded database is already open in this process (lock ${path})`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      heldByThisProcess.add(key);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          heldByThisProcess.delete(key);
          try {
            unlinkSync(path);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder = Number.NaN;
      try {
        holder = Number.parseInt(readFileSync(path, "utf8"), 10);
      } catch {
        // unreadable lock: treat as stale
      }
      if (holderAlive(holder) && holder !== process.pid) {
        throw new SignetError(
          "database_locked",
          `the embedded database is in use by process ${holder} (lock ${path}); stop it, or point DATABASE_URL at PostgreSQL to run several processes`,
        );
      }
      try {
        unlinkSync(path);
      } catch {
        // raced with another process removing it
      }
    }
  }
  throw new SignetError("database_locked", `could not take the embedded database lock ${path}`);
}
