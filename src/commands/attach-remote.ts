/**
 * `autorun attach` for a stage that runs on another host, through the host's shared connection
 * (the monitor's, when it runs): `ssh -t <host> tmux -S <socket> attach-session -t =<session>`,
 * an argument array all the way; the remote command's words are quoted for the host's login shell.
 * (`stop --sessions` ends sessions on hosts in monitor/person-actions.ts.)
 */
import { openRunHost } from "../host/remote-host.js";
import { hostTmuxSocket } from "../host/protocol.js";
import { quoteSh } from "../adapters/ssh.js";
import { RuntimeError, UserError } from "../errors.js";
import type { LoadedOrchestration as Orchestration } from "../state/orchestration.js";
import type { Ctx } from "./ctx.js";

export async function attachOnHost(ctx: Ctx, orch: Orchestration, { id, host, session }: { id: string; host: string; session: string }): Promise<number> {
  const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, host);
  if (!there) throw new RuntimeError(`stage ${id} runs on host ${host}, which the run's configuration no longer names; add it back under hosts to reach it.`);
  const { spec, info, socket, tmux } = there;
  if (!(await tmux.hasSession(session))) throw new RuntimeError(`stage ${id}'s session ${session} is gone from host ${host}; \`autorun resume ${orch.status.plan_name}\` relaunches it.`);
  if (!(ctx.isTTY && process.stdin.isTTY)) {
    const read = ["tmux", "-S", hostTmuxSocket(info.home, socket), "capture-pane", "-p", "-t", `=${session}:`].map(quoteSh).join(" ");
    throw new UserError(`attach needs a terminal; from a script, read stage ${id}'s screen on host ${host} with: ssh ${[...spec.sshOptions, spec.ssh!].map(quoteSh).join(" ")} ${read}`);
  }
  return tmux.attach(session, false);
}
