// A real Starknet devnet (`starknet-devnet` 0.10.1, installed by scripts/services.sh under
// /opt/starknet-devnet) with predeployed accounts (`--seed 0`, so the same accounts every
// run), for tests that sign in with real account contracts. Started as the Rust tests start
// it (tests/support/devnet.rs).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";

/** The binary: STARKNET_DEVNET_BIN, or where scripts/services.sh installs it. */
export function devnetBinary(): string {
  return process.env.STARKNET_DEVNET_BIN ?? "/opt/starknet-devnet/bin/starknet-devnet";
}

/** A predeployed account and its key. */
export interface DevnetAccount {
  address: string;
  private_key: string;
  public_key: string;
}

/** A port nobody listens on now (the devnet takes a port, not 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class Devnet {
  private constructor(
    private child: ChildProcess | null,
    readonly port: number,
  ) {}

  /** Starts a devnet on a free port and waits until it answers JSON-RPC. */
  static async start(): Promise<Devnet> {
    const bin = devnetBinary();
    if (!existsSync(bin)) throw new Error(`${bin} is needed (scripts/services.sh installs it)`);
    // The port is free when chosen but could be taken before the devnet binds it: try again.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const child = spawn(bin, ["--seed", "0", "--accounts", "3", "--host", "127.0.0.1", "--port", String(port)], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      let exited: number | null | undefined;
      child.on("exit", (code) => {
        exited = code;
      });
      const devnet = new Devnet(child, port);
      const deadline = Date.now() + 30_000;
      while (exited === undefined && Date.now() < deadline) {
        try {
          if ((await devnet.rpc("starknet_chainId", [])) !== undefined) return devnet;
        } catch {
          // Not listening yet.
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      devnet.stop();
      if (exited === undefined || attempt >= 2) {
        throw new Error(`the devnet did not start on port ${port} (exit ${String(exited)}): ${stderr}`);
      }
    }
  }

  /** The JSON-RPC URL, as `[auth.starknet] rpc_url` takes it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/rpc`;
  }

  /** A JSON-RPC call; its `result`, or an error naming the method. */
  async rpc<T = unknown>(method: string, params: unknown): Promise<T> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = (await res.json()) as { result?: T; error?: unknown };
    if (body.error !== undefined || !("result" in body)) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
    return body.result as T;
  }

  /** The chain id, as a short string (`SN_SEPOLIA` by default). */
  async chainId(): Promise<string> {
    const digits = BigInt(await this.rpc<string>("starknet_chainId", [])).toString(16);
    return Buffer.from(digits.length % 2 ? `0${digits}` : digits, "hex").toString("latin1");
  }

  /** The predeployed accounts with their keys, the same ones on every run. */
  accounts(): Promise<DevnetAccount[]> {
    return this.rpc<DevnetAccount[]>("devnet_getPredeployedAccounts", {});
  }

  stop(): void {
    this.child?.kill("SIGKILL");
    this.child = null;
  }
}
