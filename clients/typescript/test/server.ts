// Starts the real torii-realtime binary for a test: its own directory, SQLite file and port,
// development tokens on, and a restart on the same data and port.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The binary: TORII_REALTIME_BIN, or the workspace's debug build. */
export function binary(): string {
  if (process.env.TORII_REALTIME_BIN) return process.env.TORII_REALTIME_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? resolve(__dirname, "../../../target");
  return join(target, "debug", "torii-realtime");
}

export interface ServerOptions {
  /** TOML appended to the test configuration (new sections only). */
  config?: string;
  /** Extra environment (`TORII_REALTIME__...` overrides). */
  env?: Record<string, string>;
}

export class TestServer {
  private child: ChildProcess | null = null;
  port = 0;

  private constructor(
    readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  static async start(options: ServerOptions = {}): Promise<TestServer> {
    const dir = mkdtempSync(join(tmpdir(), "rt-ts-"));
    const s = new TestServer(dir, options.env ?? {});
    writeFileSync(
      join(dir, "realtime.toml"),
      `[server]\nlisten = "127.0.0.1:0"\nshutdown_timeout = "2s"\n[storage]\nurl = "sqlite://${dir}/rt.db"\n` +
        `[auth]\ndev_tokens = true\nsession_secret_file = "${dir}/session.key"\n` +
        `[limits]\npublish_burst = 1000\npublish_per_second = 1000.0\n[log]\nformat = "json"\n` +
        (options.config ?? ""),
    );
    await s.spawn("127.0.0.1:0");
    return s;
  }

  /** `http://127.0.0.1:PORT`. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  /** A development token for `address`, valid `ttl` (e.g. "1h", "2s"). */
  token(address: string, ttl = "1h"): string {
    // With the server's environment: a token names the world it is for.
    return execFileSync(binary(), ["token", "--config", join(this.dir, "realtime.toml"), "--address", address, "--ttl", ttl], {
      env: { ...process.env, ...this.env },
    })
      .toString()
      .trim();
  }

  /** Kills the process at once (no graceful shutdown). */
  kill(): void {
    this.child?.kill("SIGKILL");
    this.child = null;
  }

  /** Starts it again on the same data and port. */
  async restart(): Promise<void> {
    await this.spawn(`127.0.0.1:${this.port}`);
  }

  stop(): void {
    this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawn(listen: string): Promise<void> {
    // The server's log level comes from its config, not from the environment of the tests.
    const { RUST_LOG: _ignored, ...env } = process.env;
    const child = spawn(binary(), ["serve", "--config", join(this.dir, "realtime.toml")], {
      env: { ...env, ...this.env, TORII_REALTIME__SERVER__LISTEN: listen },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    return new Promise((resolvePort, reject) => {
      let buffered = "";
      const timer = setTimeout(() => reject(new Error("the server did not start")), 30_000);
      child.stderr?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        for (const line of buffered.split("\n")) {
          try {
            const v = JSON.parse(line) as { fields?: { message?: string; addr?: string }; message?: string; addr?: string };
            const message = v.fields?.message ?? v.message;
            const addr = v.fields?.addr ?? v.addr;
            if (message === "listening" && addr) {
              clearTimeout(timer);
              this.port = Number(addr.split(":").pop());
              resolvePort();
            }
          } catch {
            // A partial line: wait for the rest.
          }
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (this.port === 0) reject(new Error(`the server exited with ${code}`));
      });
    });
  }
}
