// ssh to a host: a new connection against a call through the shared one (ControlMaster), to a
// real sshd in a network namespace made by the test fixture (root only; otherwise says why not).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { figure, percentile, ROOT, hostFixture } from "./lib.mjs";

const fixture = await hostFixture("ssh");
if (!fixture) process.exit(0);
const { makeTestHost } = fixture;
const { runScript, closeMaster } = await import(join(ROOT, "dist", "src", "adapters", "ssh.js"));

const t0 = performance.now();
const host = await makeTestHost({ name: "bench" });
figure("ssh_test_host_made", performance.now() - t0, "ms");
const dir = mkdtempSync(join(tmpdir(), "autorun-bench-ssh-"));
const s = { home: join(dir, "home") };
const target = { name: "bench", destination: "bench", options: host.sshOptions };
try {
  const n = 10;
  const fresh = [];
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    await execa("ssh", [...host.sshOptions, "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", "bench", "true"]);
    fresh.push(performance.now() - a);
  }
  const a = performance.now();
  await runScript(s, target, "true");
  const masterMade = performance.now() - a;
  const shared = [];
  for (let i = 0; i < 3 * n; i++) {
    const b = performance.now();
    const r = await runScript(s, target, 'printf "%s" "$1"', { args: [`call ${i}`] });
    if (r.stdout !== `call ${i}`) throw new Error(`unexpected output ${r.stdout}`);
    shared.push(performance.now() - b);
  }
  figure("ssh_new_connection_p50", percentile(fresh, 50), "ms");
  figure("ssh_new_connection_p95", percentile(fresh, 95), "ms");
  figure("ssh_first_call_making_the_master", masterMade, "ms");
  figure("ssh_call_through_master_p50", percentile(shared, 50), "ms");
  figure("ssh_call_through_master_p95", percentile(shared, 95), "ms");
  figure("ssh_master_speedup_p50", percentile(fresh, 50) / percentile(shared, 50), "×");
} finally {
  await closeMaster(s, target).catch(() => undefined);
  await host.teardown();
  rmSync(dir, { recursive: true, force: true });
}
