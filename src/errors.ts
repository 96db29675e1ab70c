/**
 * The three kinds of failure: a user error (message only, exit 2), an outside-tool
 * error (command + stderr, exit 1), and everything else, which is a bug (stack, "please report").
 */
export class UserError extends Error {
  override name = "UserError";
  readonly exitCode = 2;
}

/** A runtime failure that is not the user's input: exit 1, message only. */
export class RuntimeError extends Error {
  override name = "RuntimeError";
  readonly exitCode = 1;
}

/** An outside program failed: what ran, where, and how it ended (exit code, signal, or a timeout). */
export class ToolError extends Error {
  override name = "ToolError";
  readonly exitCode = 1;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly cwd: string | undefined;
  readonly argv: readonly string[];
  readonly code: number | undefined;
  readonly stderr: string;
  constructor(message: string, run: { argv: readonly string[]; code?: number; stderr?: string; cause?: unknown; signal?: string; timedOut?: boolean; cwd?: string }) {
    super(message, run.cause === undefined ? undefined : { cause: run.cause });
    this.argv = run.argv;
    this.code = run.code;
    this.stderr = run.stderr ?? "";
    this.signal = run.signal;
    this.timedOut = run.timedOut ?? false;
    this.cwd = run.cwd;
  }
}

export function isExpectedError(error: unknown): error is UserError | RuntimeError | ToolError {
  return error instanceof UserError || error instanceof RuntimeError || error instanceof ToolError;
}

/** What a person can do about a file-system error code, as a parenthesised hint (or ""). */
export function describeErrno(code: string | undefined): string {
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return " (the disk is full: free space or set AUTORUN_HOME to another disk)";
    case "EROFS":
      return " (read-only file system: set AUTORUN_HOME to a writable directory)";
    case "EACCES":
    case "EPERM":
      return " (permission denied: fix the permissions or set AUTORUN_HOME)";
    case "ENAMETOOLONG":
      return " (a file name is too long: use a shorter plan file name or AUTORUN_HOME path)";
    default:
      return "";
  }
}
