// npm run bench: every benchmark in turn; each prints lines `name: value unit`.
import { execa } from "execa";
import { cpus, totalmem } from "node:os";

const only = process.argv.slice(2);
const all = ["scale", "launch", "reaction", "stall", "overhead", "ssh", "host-launch", "host-events", "host-reaction", "host-loss", "host-overhead"];
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${(await execa("tmux", ["-V"])).stdout}, ${(await execa("git", ["--version"])).stdout}`);
for (const name of all.filter((n) => only.length === 0 || only.includes(n))) {
  console.log(`# ${name}`);
  await execa(process.execPath, [new URL(`./${name}.mjs`, import.meta.url).pathname], { stdio: "inherit" });
}
