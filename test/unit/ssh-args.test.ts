/** The exact ssh argument lists: connection sharing first, the person's options, then overridable timeouts. */
import { describe, expect, it } from "vitest";
import { controlPath, quoteSh, scriptInput, sshArgs } from "../../src/adapters/ssh.js";
import { createRemoteTmux } from "../../src/adapters/remote-tmux.js";

const target = { name: "box1", destination: "me@box1", options: ["-F", "/home/me/.ssh/autorun_config", "-o", "ConnectTimeout=20"] };

describe("sshArgs", () => {
  it("puts sharing and BatchMode first, the person's options next, then timeouts they may override", () => {
    const path = controlPath("/h", target);
    expect(path).toMatch(/^\/h\/ssh\/[0-9a-f]{16}$/);
    expect(sshArgs({ home: "/h" }, target, ["sh", "-s"])).toEqual([
      "-o", "ControlMaster=auto", "-o", `ControlPath=${path}`, "-o", "BatchMode=yes",
      "-F", "/home/me/.ssh/autorun_config", "-o", "ConnectTimeout=20",
      "-o", "ControlPersist=300", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=3", "-o", "ServerAliveCountMax=3",
      "--", "me@box1", "sh", "-s",
    ]);
  });

  it("gives each destination and set of options its own short socket", () => {
    expect(controlPath("/h", target)).not.toBe(controlPath("/h", { ...target, options: [] }));
    expect(controlPath("/h", target)).not.toBe(controlPath("/h", { ...target, destination: "box1" }));
    expect(controlPath("/h", target)).toBe(controlPath("/h", { ...target, name: "other" }));
  });

  it("escapes ssh's % tokens and quotes a path with spaces", () => {
    const args = sshArgs({ home: "/tmp/my 100% home" }, target, []);
    expect(args[3]).toMatch(/^ControlPath="\/tmp\/my 100%% home\/ssh\/[0-9a-f]{16}"$/);
  });

  it("refuses a destination that ssh would read as an option, and a home too long for a socket", () => {
    expect(() => sshArgs({ home: "/h" }, { ...target, destination: "-oProxyCommand=touch x" }, [])).toThrow(/hosts\.box1\.ssh .* is not an ssh destination/);
    expect(() => controlPath(`/${"x".repeat(90)}`, target)).toThrow(/too long for ssh's connection socket/);
  });
});

describe("quoting", () => {
  it("single-quotes every argument for sh, with ' written as '\\''", () => {
    expect(quoteSh("it's $HOME; #x")).toBe(`'it'\\''s $HOME; #x'`);
    expect(scriptInput("echo \"$1\"", ["a b", "'"])).toBe(`set -- 'a b' ''\\'''\necho "$1"\n`);
  });
});

describe("attach to a host's session", () => {
  it("runs tmux there in UTF-8 mode (-u), on the run's socket, with a terminal (ssh -t)", () => {
    const argv = createRemoteTmux({ home: "/h" }, target, { socketPath: "/home/me/.autorun/tmux/run", autorun: "autorun" }).attachArgv("p_stage-1", false);
    expect(argv.slice(0, 2)).toEqual(["ssh", "-t"]);
    expect(argv.slice(-7)).toEqual(["tmux", "-u", "-S", "/home/me/.autorun/tmux/run", "attach-session", "-t", "=p_stage-1"].map(quoteSh));
  });
});
