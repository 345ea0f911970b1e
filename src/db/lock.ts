// An exclusive lock file for the embedded database. PGlite takes no lock of its own, and two processes
// opening one data directory corrupt it, so every opener holds `<dir>.lock`, a file holding its pid.
//
// The lock appears with its content already in it: the pid is written to a unique temporary file that
// is then hard-linked to the lock's name, and link(2) fails with EEXIST if a lock exists. No other
// process ever sees a lock file that Signet has left empty or half-written.
//
// A lock whose pid no longer exists is stale. A lock naming our own pid is stale too (a previous
// incarnation with a reused pid, e.g. pid 1 in a container) unless this process holds it: those are
// tracked here, so a second open in the same process is refused.
//
// Removing a stale lock is the delicate part: a process that judged the lock stale may act after
// another has already replaced it with a fresh one, and would then remove a live lock (renaming it
// away and checking what was moved narrows that window but, with several processes starting at
// once, does not close it). So a stale lock is only removed under a second lock, `<lock>.takeover`,
// created the same way: its holder re-reads the lock and deletes it only if it is still stale. That
// is safe because nothing else can change a stale lock: its owner is gone, and no one can create a
// lock while the file exists. A takeover lock left by a process that died inside those few system
// calls is itself removed by renaming it to a unique name (of several renames of one file exactly
// one succeeds) and putting it back if what was moved turns out to be live.
//
// An empty or unparsable lock file can only come from outside Signet (an older version's crashed
// writer, an editor, `touch`). It is stale once it is older than UNKNOWN_LOCK_STALE_MS; before that
// it is treated as held, since its writer may still be finishing.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { SignetError } from "../../ca/errors.js";

const heldByThisProcess = new Set<string>();

/** How old an empty or unparsable lock file must be before it is taken over. */
export const UNKNOWN_LOCK_STALE_MS = 5_000;
/** Attempts, each of which creates the lock, refuses, removes a stale lock, or waits a few
 * milliseconds for another process that is removing one: about a second in all. */
const MAX_ATTEMPTS = 200;

export interface FileLock {
  readonly path: string;
  release(): void;
}

type LockState =
  | { readonly kind: "gone" }
  | { readonly kind: "held"; readonly pid: number }
  | { readonly kind: "unknown"; readonly ageMs: number }
  | { readonly kind: "stale" };

function holderAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException | null)?.code ?? "");
}

function uniqueSibling(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${tag}.${process.pid}.${randomBytes(6).toString("hex")}`);
}

/** acquireLock is synchronous (it runs before the database opens), so it waits synchronously. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** What a lock file says about its holder. */
function inspect(path: string): LockState {
  let text: string;
  let stat: Stats;
  try {
    stat = lstatSync(path);
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (isCode(err, "ENOENT")) return { kind: "gone" };
    throw err;
  }
  const m = /^(\d{1,10})\n?$/.exec(text);
  if (!m) {
    const ageMs = Date.now() - stat.mtimeMs;
    return ageMs > UNKNOWN_LOCK_STALE_MS ? { kind: "stale" } : { kind: "unknown", ageMs };
  }
  const pid = Number(m[1]);
  // Our own pid: this process does not hold the lock (acquireLock checked first), so a previous
  // incarnation with the same pid left it.
  return pid !== process.pid && holderAlive(pid) ? { kind: "held", pid } : { kind: "stale" };
}

function refusal(path: string, state: { kind: "held"; pid: number } | { kind: "unknown"; ageMs: number }): SignetError {
  if (state.kind === "held") {
    return new SignetError(
      "database_locked",
      `the embedded database is in use by process ${state.pid} (lock ${path}); stop it, or point DATABASE_URL at PostgreSQL to run several processes`,
    );
  }
  return new SignetError(
    "database_locked",
    `the embedded database lock ${path} is empty or unreadable and was written ${Math.round(state.ageMs / 1000)}s ago; ` +
      "if no Signet is running, remove it",
  );
}

/** Creates `path` holding our pid, content and all; undefined if it exists. */
function createExclusive(path: string): Stats | undefined {
  const tmp = uniqueSibling(path, "new");
  const fd = openSync(tmp, "wx", 0o600);
  let stat: Stats;
  try {
    const content = Buffer.from(`${process.pid}\n`);
    writeSync(fd, content, 0, content.length, 0);
    stat = fstatSync(fd); // the lock becomes a second name for this inode
    closeSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    linkSync(tmp, path);
    return stat;
  } catch (err) {
    if (isCode(err, "EEXIST")) return undefined;
    if (isCode(err, "EPERM", "ENOTSUP", "EOPNOTSUPP")) {
      throw new SignetError(
        "config_invalid",
        `the filesystem holding ${path} has no hard links, which the embedded database lock needs; move SIGNET_HOME, or point DATABASE_URL at PostgreSQL`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Deletes `path` if it is still the file we created. The pid is compared too, since a freed inode
 * number is soon reused. */
function removeOwn(path: string, ours: Stats): void {
  try {
    const now = lstatSync(path);
    if (now.ino === ours.ino && now.dev === ours.dev && readFileSync(path, "utf8") === `${process.pid}\n`) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Removes a takeover lock whose holder died: moved aside first, and put back if what was moved
 * turns out to be live (a fresh one created after we judged the old one stale). */
function discardStaleGuard(guard: string): void {
  const moved = uniqueSibling(guard, "stale");
  try {
    renameSync(guard, moved);
  } catch (err) {
    if (isCode(err, "ENOENT")) return; // another process moved it first
    throw err;
  }
  try {
    const state = inspect(moved);
    if (state.kind === "held" || state.kind === "unknown") linkSync(moved, guard);
  } catch (err) {
    if (!isCode(err, "EEXIST")) throw err;
  } finally {
    rmSync(moved, { force: true });
  }
}

/** Deletes the stale lock at `path` under the takeover lock. False when another process holds the
 * takeover lock: the caller waits a moment and looks again. */
function removeStale(path: string): boolean {
  const guard = `${path}.takeover`;
  const ours = createExclusive(guard);
  if (!ours) {
    if (inspect(guard).kind === "stale") discardStaleGuard(guard);
    return false;
  }
  try {
    // Judged again under the takeover lock: by now another process may have removed the stale
    // lock and created its own.
    if (inspect(path).kind === "stale") rmSync(path, { force: true });
  } finally {
    removeOwn(guard, ours);
  }
  return true;
}

export function acquireLock(path: string): FileLock {
  const key = resolve(path);
  if (heldByThisProcess.has(key)) {
    throw new SignetError("database_locked", `the embedded database is already open in this process (lock ${path})`);
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const ours = createExclusive(path);
    if (ours) {
      heldByThisProcess.add(key);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          heldByThisProcess.delete(key);
          // Only our own file: should it ever have been displaced, the name belongs to someone else.
          removeOwn(path, ours);
        },
      };
    }
    const state = inspect(path);
    if (state.kind === "held" || state.kind === "unknown") throw refusal(path, state);
    if (state.kind === "stale" && !removeStale(path)) pause(1 + Math.floor(Math.random() * 5));
  }
  throw new SignetError(
    "database_locked",
    `could not take the embedded database lock ${path}: another process kept the takeover lock ${path}.takeover; try again`,
  );
}
