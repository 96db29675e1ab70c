/**
 * A test host on this machine: a network namespace joined to ours by a veth pair on a private /30
 * chosen for the test, its own sshd (a host key made for it, keys only) listening on the
 * namespace's address alone, and its own Unix user with a temporary home. The client side is a
 * temp ssh config (identity, pinned known_hosts) passed with `-F`, so nothing reads or writes
 * ~/.ssh. Needs root (namespaces, useradd); `hostLaneSkip` says why the lane is skipped otherwise.
 *
 * Teardown ends every process in the namespace (sshd and the sessions it started), deletes the
 * namespace (and so the veth pair), the user and the temp dirs, whatever the test did. A run
 * killed before its teardown leaves names with its pid in them; the next `makeTestHost` removes
 * those whose pid is gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { waitFor } from "../helpers/env.js";

export const SSHD = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((p) => existsSync(p));

/** Why the host lane cannot run here, or undefined when it can. */
export function hostLaneSkip(): string | undefined {
  if (process.platform !== "linux") return "the host lane needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "the host lane needs root (network namespaces, useradd); CI runs it as root";
  if (!SSHD) return "the host lane needs OpenSSH's sshd: apt-get install -y openssh-server";
  if (!existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip") && !existsSync("/bin/ip")) return "the host lane needs iproute2 (ip): apt-get install -y iproute2";
  return undefined;
}

export interface TestHost {
  /** The name the temp ssh config knows the host by (the `ssh` destination). */
  name: string;
  /** The namespace's address, and the controller's end of the /30. */
  address: string;
  peer: string;
  user: string;
  /** The user's home on the host. */
  home: string;
  /** The user's TMPDIR in its ssh sessions: the fixture's own, so a teardown leaves nothing in /tmp. */
  tmp: string;
  netns: string;
  /** The host's side of the veth pair, inside the namespace (for `ip -n netns link set … down`). */
  nsLink: string;
  /** `-F <config>`: what a host's `sshOptions` needs to reach it. */
  sshOptions: string[];
  /** The pinned host key, as a known_hosts file. */
  knownHosts: string;
  /** Milliseconds from the start at each step of making the host. */
  timings: Record<string, number>;
  /** Runs a command inside the namespace as root (to inspect or break the host). */
  inNs(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Runs `sh -c script sh args…` inside the namespace as the host's user (as its agent would). */
  asUser(script: string, ...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Pids of every process in the namespace. */
  pids(): Promise<number[]>;
  teardown(): Promise<void>;
}

/**
 * Waits until the host's sshd takes a connection: just after its link came back up, the kernel may
 * still answer "No route to host" for a moment (the neighbour entry failed while it was down).
 */
export async function untilAnswering(host: TestHost, timeoutMs = 30_000): Promise<void> {
  const once = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(22, host.address);
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
      socket.setTimeout(1_000, () => done(false));
    });
  await waitFor(`host ${host.name} answering on ${host.address}:22`, once, timeoutMs);
}

let counter = 0;
const PREFIX = "arhost";

async function ip(args: string[]): Promise<string> {
  return (await execa("ip", args, { timeout: 10_000 })).stdout;
}

async function batch(options: string[], lines: string[]): Promise<void> {
  await execa("ip", [...options, "-batch", "-"], { input: lines.join("\n") + "\n", timeout: 10_000 });
}

/** A /30 of 10.213.0.0/16 that no interface or route of this machine uses. */
async function freeSubnet(): Promise<[string, string]> {
  const used = (await Promise.all([ip(["-4", "-o", "addr", "show"]), ip(["-4", "route", "show", "table", "all"])])).join("\n");
  for (let i = 0; i < 50; i++) {
    const third = Math.floor(Math.random() * 256);
    const fourth = Math.floor(Math.random() * 64) * 4;
    const net = `10.213.${third}.`;
    const taken = [0, 1, 2, 3].some((d) => used.includes(`${net}${fourth + d}/`) || used.includes(`${net}${fourth + d} `));
    if (!taken && !used.includes("10.213.0.0/16")) return [`${net}${fourth + 1}`, `${net}${fourth + 2}`];
  }
  throw new Error("no free /30 in 10.213.0.0/16");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function killNsProcesses(netns: string): Promise<void> {
  const list = await execa("ip", ["netns", "pids", netns], { reject: false, timeout: 5_000 });
  for (const pid of list.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function removeUser(user: string): Promise<void> {
  // A process of the user keeps userdel from working; they all ran in the namespace, now ended.
  for (let i = 0; i < 20; i++) {
    const r = await execa("userdel", [user], { reject: false, timeout: 5_000 });
    if (r.exitCode === 0 || r.exitCode === 6 || /does not exist/.test(r.stderr)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Removes hosts a killed test run left behind (their names carry the dead run's pid). */
async function sweepLeftovers(): Promise<void> {
  const list = await execa("ip", ["netns", "list"], { reject: false, timeout: 5_000 });
  for (const line of list.stdout.split("\n")) {
    const m = new RegExp(`^(${PREFIX}-(\\d+)-\\d+)\\b`).exec(line);
    if (!m || pidAlive(Number(m[2]))) continue;
    await killNsProcesses(m[1]!);
    await execa("ip", ["netns", "del", m[1]!], { reject: false, timeout: 5_000 });
    await removeUser(m[1]!);
  }
}

async function waitListening(child: ChildProcess, what: string, timeoutMs = 5_000): Promise<void> {
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start listening in ${timeoutMs} ms: ${log}`)), timeoutMs);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (/Server listening on/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before listening: ${log}`));
    });
  });
}

/** Makes a test host; its `teardown` must run (use `withTestHost` or an afterAll). */
export async function makeTestHost(opts: { name?: string } = {}): Promise<TestHost> {
  const skip = hostLaneSkip();
  if (skip) throw new Error(skip);
  const swept = sweepLeftovers();
  const tag = `${PREFIX}-${process.pid}-${++counter}`;
  const short = `${process.pid.toString(36)}${counter.toString(36)}`.slice(-8);
  const netns = tag;
  const user = tag;
  const hostLink = `arh${short}`;
  const nsLink = `arn${short}`;
  const dir = mkdtempSync(join(tmpdir(), "autorun-host-"));
  const home = join(dir, "home");
  const tmp = join(dir, "tmp");
  const name = opts.name ?? "testhost";
  let sshd: ChildProcess | undefined;
  let made = { netns: false, user: false, link: false };

  const teardown = async () => {
    if (sshd && sshd.exitCode === null) sshd.kill("SIGKILL");
    if (made.netns) await killNsProcesses(netns);
    // Deleting the namespace deletes its end of the veth pair, and so the pair.
    await Promise.all([
      made.netns ? execa("ip", ["netns", "del", netns], { reject: false, timeout: 5_000 }) : undefined,
      made.user ? removeUser(user) : undefined,
    ]);
    if (made.link && (await execa("ip", ["link", "show", hostLink], { reject: false })).exitCode === 0) await execa("ip", ["link", "del", hostLink], { reject: false, timeout: 5_000 });
    rmSync(dir, { recursive: true, force: true });
    made = { netns: false, user: false, link: false };
  };

  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (what: string) => (timings[what] = Math.round(performance.now() - t0));
  try {
    const [[peer, address]] = await Promise.all([freeSubnet(), swept]);
    mark("subnet");
    // Keys and the user at the same time as the network.
    const hostKey = join(dir, "host_key");
    const clientKey = join(dir, "client_key");
    const keys = Promise.all([
      execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "autorun-test-host", "-f", hostKey], { timeout: 10_000 }),
      execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "autorun-test-client", "-f", clientKey], { timeout: 10_000 }),
    ]);
    // `-p '*'`: no password, but not a locked account (sshd refuses locked accounts even for keys).
    // No subordinate ids and no lastlog entry: fewer system files written (and faster).
    const addUser = execa("useradd", ["-M", "-N", "-l", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-d", home, "-s", "/bin/sh", "-p", "*", user], { timeout: 10_000 }).then(() => (made.user = true));
    // Two `ip -batch` runs (this side, then inside the namespace) instead of seven ip processes.
    made.netns = made.link = true;
    await batch([], [`netns add ${netns}`, `link add ${hostLink} type veth peer name ${nsLink} netns ${netns}`, `addr add ${peer}/30 dev ${hostLink}`, `link set ${hostLink} up`]);
    await batch(["-n", netns], [`addr add ${address}/30 dev ${nsLink}`, `link set ${nsLink} up`, "link set lo up"]);
    await Promise.all([keys, addUser]);
    mark("network, keys, user");
    const { uid, gid } = await ids(user);
    mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, ".ssh", "authorized_keys"), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    // Its temp files there too: teardown SIGKILLs its processes, which then remove none of theirs.
    mkdirSync(tmp, { mode: 0o700 });
    for (const p of [home, join(home, ".ssh"), join(home, ".ssh", "authorized_keys"), tmp]) chownSync(p, uid, gid);
    chmodSync(home, 0o755);
    // The host user must reach nothing of ours but its home: the temp dir is only traversable.
    chmodSync(dir, 0o711);

    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `ListenAddress ${address}:22`,
        `HostKey ${hostKey}`,
        "PidFile none",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        `AllowUsers ${user}`,
        `SetEnv TMPDIR=${tmp}`,
        "StrictModes yes",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "MaxStartups 64:30:128",
        "MaxSessions 64",
        "LogLevel INFO",
        "",
      ].join("\n"),
    );
    // sshd wants its privilege separation directory (the package makes it at boot).
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    sshd = spawn("ip", ["netns", "exec", netns, SSHD!, "-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    await waitListening(sshd, `sshd in ${netns}`);
    mark("sshd listening");

    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, `${address} ${readFileSync(`${hostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`);
    const clientConfig = join(dir, "ssh_config");
    writeFileSync(
      clientConfig,
      [
        `Host ${name}`,
        `  HostName ${address}`,
        `  User ${user}`,
        `  IdentityFile ${clientKey}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${knownHosts}`,
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  LogLevel ERROR",
        "",
      ].join("\n"),
    );
    const inNs = async (args: string[]) => {
      const r = await execa("ip", ["netns", "exec", netns, ...args], { reject: false, timeout: 10_000 });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    const asUser = (script: string, ...args: string[]) => inNs(["su", "-s", "/bin/sh", user, "-c", script, "sh", ...args]);
    const pids = async () => (await execa("ip", ["netns", "pids", netns], { reject: false })).stdout.split(/\s+/).filter(Boolean).map(Number);
    return { name, address, peer, user, home, tmp, netns, nsLink, sshOptions: ["-F", clientConfig], knownHosts, timings, inNs, asUser, pids, teardown };
  } catch (error) {
    await teardown();
    throw error;
  }
}

async function ids(user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execa("id", ["-u", user]), execa("id", ["-g", user])]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}
