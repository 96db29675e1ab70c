/**
 * One `Tmux` over every machine of a run: a call about a session goes to the tmux of the host the
 * session's stage runs on (this machine's, or a host's over its shared ssh connection), so the
 * monitor's parts (liveness, stalls, nudges, dialogs, merges' cleanup) work unchanged on remote
 * panes. A host that is not answering is never read as "the session is gone": its panes count as
 * running (host loss is told by the host's follower, not by a pane), a screen as unknown, a key
 * as not typed, and an ssh failure during a call marks the host unanswering.
 */
import type { NewSession, PaneStatus, Tmux } from "../adapters/tmux.js";

export interface HostRouter {
  /** The host a session runs on, undefined for this machine. */
  hostOfSession(session: string): string | undefined;
  /** Sessions placed on each host now. */
  sessionsByHost(): Map<string, string[]>;
  /** The host's tmux, or undefined while it is not answering (or not ready). */
  remoteTmux(host: string): Tmux | undefined;
  /** An ssh call to the host failed (exit 255, or past its deadline). */
  unanswered(host: string, error: unknown): void;
}

export function routedTmux(local: Tmux, router: HostRouter): Tmux {
  /** The tmux for `session`, or undefined while its host is not answering. */
  const pick = (session: string): { tmux: Tmux | undefined; host: string | undefined } => {
    const host = router.hostOfSession(session);
    return host === undefined ? { tmux: local, host } : { tmux: router.remoteTmux(host), host };
  };
  async function on<T>(session: string, call: (t: Tmux) => Promise<T>, unknown: T): Promise<T> {
    const { tmux, host } = pick(session);
    if (!tmux) return unknown;
    if (host === undefined) return call(tmux);
    try {
      return await call(tmux);
    } catch (error) {
      router.unanswered(host, error);
      return unknown;
    }
  }
  const running: PaneStatus = { state: "running" };
  return {
    get socket() {
      return local.socket;
    },
    async newSession(spec: NewSession) {
      const { tmux } = pick(spec.name);
      if (!tmux) throw new Error(`the host of session ${spec.name} is not answering`);
      await tmux.newSession(spec);
    },
    newSessions: (specs) => local.newSessions(specs),
    async hasSession(name) {
      const { tmux } = pick(name);
      // Unknown is not "gone": a caller about to start a second session must not.
      if (!tmux) throw new Error(`the host of session ${name} is not answering`);
      return tmux.hasSession(name);
    },
    paneStatus: (name) => on(name, (t) => t.paneStatus(name), running),
    paneStatuses: (of) => paneStatusesEverywhere(local, router, of),
    serverRunning: () => local.serverRunning(),
    async listSessions() {
      const all = await local.listSessions();
      for (const [host] of router.sessionsByHost()) {
        const tmux = router.remoteTmux(host);
        if (tmux) all.push(...(await tmux.listSessions().catch((error: unknown) => (router.unanswered(host, error), []))));
      }
      return all;
    },
    capturePane: (name) => on(name, (t) => t.capturePane(name), undefined),
    capturePanes: (names) => capturePanesEverywhere(local, router, names),
    lastLines: (name, lines) => on(name, (t) => t.lastLines(name, lines), []),
    cursorRow: (name) => on(name, (t) => t.cursorRow(name), undefined),
    captureWithCursor: (name) => on(name, (t) => t.captureWithCursor(name), undefined),
    sendLiteral: (name, text) => on(name, (t) => t.sendLiteral(name, text), false),
    pasteText: (name, text) => on(name, (t) => t.pasteText(name, text), false),
    sendEnter: (name) => on(name, (t) => t.sendEnter(name), false),
    enterAfterLook: (name) => on(name, (t) => t.enterAfterLook(name), undefined),
    killSession: (name) => on(name, (t) => t.killSession(name), false),
    killServer: () => local.killServer(),
    displayMessage: (text) => local.displayMessage(text),
    attachArgv: (name, insideTmux) => (pick(name).tmux ?? local).attachArgv(name, insideTmux),
    attach: (name, insideTmux) => (pick(name).tmux ?? local).attach(name, insideTmux),
    version: () => local.version(),
  };
}

/** Every pane here and on each host in one call per server; a host not answering: its panes "running". */
async function paneStatusesEverywhere(local: Tmux, router: HostRouter, of?: readonly string[]): Promise<Map<string, PaneStatus>> {
  // This machine's server is asked only when a session asked about is here (every stage may be on hosts).
  const here = of === undefined || of.some((s) => router.hostOfSession(s) === undefined);
  const all = here ? await local.paneStatuses() : new Map<string, PaneStatus>();
  await Promise.all(
    [...router.sessionsByHost()].map(async ([host, sessions]) => {
      const tmux = router.remoteTmux(host);
      let theirs: Map<string, PaneStatus> | undefined;
      if (tmux) {
        try {
          theirs = await tmux.paneStatuses();
        } catch (error) {
          router.unanswered(host, error);
        }
      }
      for (const s of sessions) all.set(s, theirs ? (theirs.get(s) ?? { state: "gone" }) : { state: "running" });
    }),
  );
  return all;
}

/** The screens of `names`, one call per server; a host not answering: undefined for its panes. */
async function capturePanesEverywhere(local: Tmux, router: HostRouter, names: readonly string[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  const groups = new Map<string | undefined, string[]>();
  for (const n of names) {
    const host = router.hostOfSession(n);
    groups.set(host, [...(groups.get(host) ?? []), n]);
  }
  await Promise.all(
    [...groups].map(async ([host, group]) => {
      const tmux = host === undefined ? local : router.remoteTmux(host);
      let screens: Map<string, string | undefined> | undefined;
      if (tmux) {
        try {
          screens = await tmux.capturePanes(group);
        } catch (error) {
          if (host === undefined) throw error;
          router.unanswered(host, error);
        }
      }
      for (const n of group) out.set(n, screens?.get(n));
    }),
  );
  return out;
}
