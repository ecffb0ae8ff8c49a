// The on-chain side of a browser test: the fake Torii of the Blitz world as a process
// (`fake-torii`, built from the e2e crate), driven by JSON commands, and the server's
// configuration for that world (config/eternum-blitz.toml without its deployment sections).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

import { binary } from "../server.ts";

const repo = resolve(__dirname, "../../../..");

/** `fake-torii` next to the server binary, or FAKE_TORII_BIN. */
export function fakeToriiBinary(): string {
  return process.env.FAKE_TORII_BIN ?? join(binary(), "../fake-torii");
}

export type Command =
  | { op: "player"; address: string; name: string }
  | { op: "join_guild"; address: string; guild: string }
  | { op: "leave_guild"; address: string }
  | { op: "structure"; id: number; owner: string; x: number; y: number }
  | { op: "explorer"; id: number; structure: number; x: number; y: number };

export class FakeTorii {
  private replies: ((line: string) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    /** `TORII_REALTIME__TORII__*` overrides pointing a server at it. */
    readonly env: Record<string, string>,
  ) {}

  static start(): Promise<FakeTorii> {
    const child = spawn(fakeToriiBinary(), [], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolveStart, reject) => {
      let torii: FakeTorii | null = null;
      child.on("error", reject);
      child.on("exit", (code) => torii === null && reject(new Error(`fake-torii exited with ${code}`)));
      lines.on("line", (line) => {
        if (torii === null) {
          const first = JSON.parse(line) as { env: Record<string, string> };
          torii = new FakeTorii(child, first.env);
          resolveStart(torii);
          return;
        }
        torii.replies.shift()?.(line);
      });
    });
  }

  /** Applies one on-chain change; resolves once Torii has sent it to its subscribers. */
  send(command: Command): Promise<void> {
    return new Promise((resolveSend, reject) => {
      this.replies.push((line) => {
        const reply = JSON.parse(line) as { ok?: boolean; error?: string };
        if (reply.ok) resolveSend();
        else reject(new Error(`fake-torii refused ${JSON.stringify(command)}: ${reply.error}`));
      });
      this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    });
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/** The world sections of config/eternum-blitz.toml: what a test server appends to its own
 * `[server]`, `[storage]`, `[auth]`, `[limits]` and `[log]`. */
export function blitzWorldConfig(): string {
  const text = readFileSync(join(repo, "config/eternum-blitz.toml"), "utf8");
  const kept: string[] = [];
  let keep = true;
  for (const line of text.split("\n")) {
    const header = /^\s*\[\[?([a-z_.]+)\]\]?/.exec(line);
    if (header) keep = !["server", "storage", "limits", "log", "auth"].includes(header[1]!.split(".")[0]!);
    if (keep) kept.push(line);
  }
  return `${kept.join("\n")}\n`;
}
