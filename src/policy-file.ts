// A policy kept in a file and reloaded when the file changes (the posture policy, the proxy's
// authorization policy). A file that does not load at start-up is an error the caller sees; a broken
// edit later is logged and the version in force stays in force, so a typo never opens or closes the
// door by accident.
//
// Changes are noticed by fs.watch on the file's folder (editors often replace a file by renaming a
// new one over it, which a watch on the file itself would not follow) and, because fs.watch is not
// reliable on every file system (NFS, some container mounts), by a poll of the file's mtime, size
// and inode. Watch events are debounced so a write seen half-done is read again once it settles.
import { readFileSync, statSync, watch, type FSWatcher, type Stats } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import { isSignetError, SignetError } from "../ca/errors.js";

export interface WatchedPolicyOptions<T> {
  /** Parses and checks the text; throws SignetError("bad_policy") when it is broken. */
  compile: (text: string) => T;
  /** What the file is, in log lines and errors ("posture policy", "proxy policy"). */
  what: string;
  log: Logger;
  /** How often the mtime poll runs, in ms (default 2000). */
  pollMs?: number;
  /** How long watch events settle before the file is read, in ms (default 100). */
  debounceMs?: number;
}


/** A policy file of any kind (its compile function says which), watched and hot-reloaded. */
export class WatchedPolicyFile<T extends { version: string }> {
  readonly path: string;
  readonly #compileText: (text: string) => T;
  readonly #what: string;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #debounceMs: number;
  #current: T | null = null;
  /** The text last read, good or not: an unchanged broken file is reported once. */
  #text: string | null = null;
  #seen: string | null = null;
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(path: string, opts: WatchedPolicyOptions<T>) {
    this.path = path;
    this.#compileText = opts.compile;
    this.#what = opts.what;
    this.#log = opts.log;
    this.#pollMs = opts.pollMs ?? 2000;
    this.#debounceMs = opts.debounceMs ?? 100;
  }

  /** Reads and compiles the file; throws SignetError("bad_policy") naming the file if it is broken. */
  load(): T {
    const stat = this.#stat();
    const text = this.#read();
    this.#current = this.#compile(text);
    this.#text = text;
    this.#seen = stat;
    return this.#current;
  }

  /** The policy in force. */
  current(): T {
    if (!this.#current) throw new SignetError("internal", `the ${this.#what} ${this.path} has not been loaded`);
    return this.#current;
  }

  /** Starts following changes to the file. */
  watch(): void {
    if (this.#closed || this.#poll) return;
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.#schedule();
      });
      this.#watcher.on("error", (err) => {
        this.#log.warn({ err, path: this.path }, `watching the ${this.#what} failed; polling it instead`);
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch (err) {
      this.#log.warn({ err, path: this.path }, `cannot watch the ${this.#what}; polling it instead`);
    }
    this.#poll = setInterval(() => {
      if (this.#stat() !== this.#seen) this.#reload();
    }, this.#pollMs);
    this.#poll.unref();
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#poll = this.#debounce = null;
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      this.#reload();
    }, this.#debounceMs);
    this.#debounce.unref();
  }

  #reload(): void {
    if (this.#closed) return;
    const stat = this.#stat();
    let text: string;
    try {
      text = this.#read();
    } catch (err) {
      // Seen, so a missing file is reported once, not at every poll.
      if (stat !== this.#seen) this.#log.error({ err, path: this.path, version: this.#current?.version }, `cannot read the ${this.#what}; the previous version stays in force`);
      this.#seen = stat;
      return;
    }
    this.#seen = stat;
    if (text === this.#text) return;
    try {
      const next = this.#compile(text);
      const previous = this.#current?.version;
      this.#current = next;
      this.#text = text;
      this.#log.info({ path: this.path, version: next.version, previous }, `${this.#what} reloaded`);
    } catch (err) {
      this.#text = text;
      this.#log.error({ err, path: this.path, version: this.#current?.version }, `the changed ${this.#what} is broken; the previous version stays in force`);
    }
  }

  #read(): string {
    try {
      return readFileSync(this.path, "utf8");
    } catch (err) {
      throw new SignetError("bad_policy", `cannot read the ${this.#what} ${this.path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, { cause: err });
    }
  }

  #compile(text: string): T {
    try {
      return this.#compileText(text);
    } catch (err) {
      if (isSignetError(err, "bad_policy")) throw new SignetError("bad_policy", `${this.path}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** What the poll compares: changes when the file is written or replaced. */
  #stat(): string | null {
    let s: Stats;
    try {
      s = statSync(this.path);
    } catch {
      return null;
    }
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  }
}
