/**
 * The controller's end of a host's `autorun host serve` (src/commands/host.ts): one process there,
 * started at the first launch and kept, that answers `autorun host <command>` calls, one request
 * line each, side by side. A launch on a host then costs a line each way and the work itself, not an ssh
 * session and a Node process started for it (0.3 s to over 1 s of a loaded host's time, which a
 * dependant waited for after each merge).
 */
import { ServerEnded, SshServer } from "../adapters/ssh-server.js";
import type { SshSettings, SshTarget } from "../adapters/ssh.js";
import { serveAnswer, serveReady, type ServeRequest } from "./protocol.js";

export class HostServer {
  private readonly server: SshServer;

  constructor(s: SshSettings, target: SshTarget, autorun: string, version: string) {
    this.server = new SshServer(s, target, {
      // The host's autorun in place of the shell; its stdin is the requests.
      script: 'exec "$1" host serve',
      args: [autorun],
      what: "autorun host serve",
      refuseHello: (hello) => {
        const said = serveReady.safeParse(hello);
        return said.success && said.data.serving === version ? undefined : `not autorun ${version} (it said ${JSON.stringify(hello).slice(0, 200)})`;
      },
    });
  }

  /** Times the host's server was started (for tests). */
  get starts(): number {
    return this.server.starts;
  }

  /** The pid of the ssh client of the server under way (for tests). */
  get pid(): number | undefined {
    return this.server.pid;
  }

  /**
   * `autorun host <command>` with `input`, answered there: its output, or a ToolError with the
   * host's reason. A server that had ended unseen (the host's process killed, a link that came
   * back) is started again for a second try: the host's commands are safe to repeat (a launch
   * adopts what an interrupted one made).
   */
  async call(command: ServeRequest["command"], input: unknown, deadlineMs: number): Promise<unknown> {
    const ask = () => this.server.call({ command, input }, deadlineMs, `autorun host ${command}`);
    const starts = this.server.starts;
    const said = await ask().catch((error: unknown) => {
      // Only a server started before this call: one that ends as soon as it starts is not tried again.
      if (error instanceof ServerEnded && this.server.starts === starts && starts > 0) return ask();
      throw error;
    });
    const answer = serveAnswer.safeParse(said);
    if (!answer.success) {
      this.server.close();
      throw this.server.failure(`autorun host ${command} answered with something else than an answer`);
    }
    if (!answer.data.ok) throw this.server.failure(`autorun host ${command} failed: ${answer.data.error}`);
    return answer.data.output;
  }

  /** Starts the host's server now (a monitor that will launch there), unless it runs. */
  warm(): void {
    this.server.warm();
  }

  /** Ends the host's server (the next call starts another). */
  close(): void {
    this.server.close();
  }
}
