/**
 * `autorun host follow <file> <offset>` on a host: the bytes of the host's events file from a byte
 * offset, sent as they are written, for the controller's follower at the other end of one
 * long-lived ssh call. It wakes when the file changes (fs.watch: inotify on Linux) and once per
 * heartbeat, never on a short timer, so an idle host costs a timer a second.
 *
 * What it writes on stdout, each a header line then maybe bytes:
 *   `I <device>-<inode>\n`: the file it reads, once it is there (a follower that read another
 *     file under that name before knows it was replaced);
 *   `D <offset> <length>\n` and `length` bytes: the file's bytes from `offset`;
 *   `H <size>\n`: every byte up to `size` was sent (at the start once the file is read to its end,
 *     then every heartbeat: the host answers);
 *   `E <why>\n`: the file can no longer be followed from here (shortened, or replaced by another
 *     file); then it exits 3.
 * It ends when its stdin ends (the controller closed it, or the connection is gone) or its stdout
 * fails.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher } from "node:fs";

/** At most this many bytes in one `D` frame. */
const CHUNK = 64 * 1024;

export interface FollowIo {
  out: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { destroy?(): void };
  heartbeatMs: number;
}

/** Follows `file` from byte `from` until stdin ends (0) or the file cannot be followed (3). */
export function followFile(file: string, from: number, io: FollowIo): Promise<number> {
  return new Promise((resolve) => new FileFollower(file, from, io, resolve).start());
}

class FileFollower {
  private fd: number | undefined;
  private ino = 0;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Waiting for the connection to take what was written. */
  private blocked = false;
  private over = false;
  private failed = false;
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(
    private readonly file: string,
    private sent: number,
    private readonly io: FollowIo,
    private readonly done: (code: number) => void,
  ) {}

  start(): void {
    const { io } = this;
    this.timer = setInterval(() => this.pump(true), io.heartbeatMs);
    io.out.on("error", () => this.end(0));
    for (const ev of ["end", "close", "error"]) io.stdin.on(ev, () => this.end(0));
    io.stdin.resume();
    // Where the controller resumes must still be in the file.
    if (this.open()) {
      const size = fstatSync(this.fd!).size;
      if (size < this.sent) return this.fail(`${this.file} is shorter (${size} bytes) than what was already read (${this.sent})`);
    }
    this.pump(true);
  }

  private end(code: number): void {
    if (this.over) return;
    this.over = true;
    clearInterval(this.timer);
    this.watcher?.close();
    if (this.fd !== undefined) closeSync(this.fd);
    // Nothing more is read: the process may end.
    this.io.stdin.destroy?.();
    this.done(code);
  }

  private fail(why: string): void {
    if (this.failed) return;
    this.failed = true;
    this.io.out.write(`E ${why.replace(/\s+/g, " ")}\n`, () => this.end(3));
  }

  /** Opens the file once it is there; false while it is not. */
  private open(): boolean {
    if (this.fd !== undefined) return true;
    try {
      this.fd = openSync(this.file, "r");
    } catch {
      return false;
    }
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.io.out.write(`I ${st.dev}-${st.ino}\n`);
    try {
      this.watcher = watch(this.file, { persistent: false }, () => this.pump(false));
      this.watcher.on("error", () => undefined);
    } catch {
      // Not watchable: the heartbeat reads it.
    }
    return true;
  }

  /** Sends what the file holds past `sent`; then, when all of it went, a heartbeat if asked for or if anything went. */
  private pump(beat: boolean): void {
    if (this.over || this.failed || this.blocked) return;
    let size = this.sent;
    if (this.open()) {
      let now: number | undefined;
      try {
        now = statSync(this.file).ino;
      } catch {
        // Removed: what it held is still read through the descriptor; a file made in its place is another file.
      }
      if (now !== undefined && now !== this.ino) return this.fail(`${this.file} was replaced by another file`);
      size = fstatSync(this.fd!).size;
      if (size < this.sent) return this.fail(`${this.file} is shorter (${size} bytes) than what was already read (${this.sent})`);
    }
    const went = size > this.sent;
    while (this.sent < size) {
      const n = readSync(this.fd!, this.buf, 0, Math.min(CHUNK, size - this.sent), this.sent);
      if (n === 0) break;
      this.io.out.write(`D ${this.sent} ${n}\n`);
      this.sent += n;
      if (!this.io.out.write(Buffer.from(this.buf.subarray(0, n)))) {
        // The connection is slow: the rest waits until it has taken what it has.
        this.blocked = true;
        this.io.out.once("drain", () => {
          this.blocked = false;
          this.pump(true);
        });
        return;
      }
    }
    if (beat || went) this.io.out.write(`H ${this.sent}\n`);
  }
}
