// Wallet sign-in against real parts: a Starknet devnet's predeployed account contracts (which
// decide whether a signature is valid), starknet.js accounts signing the server's SNIP-12
// challenge, and the real binary; the token opens a RealtimeClient. Also the token source's
// caching, shared sign-in and re-sign near expiry, and the signature formats accepted.
import { Account, RpcProvider, stark } from "starknet";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

import {
  type ClientEvent,
  RealtimeClient,
  ServerError,
  type SignInAccount,
  canonicalAddress,
  signIn,
  signatureFelts,
  walletTokenSource,
} from "../src/index.ts";
import { Devnet, type DevnetAccount } from "./devnet.ts";
import { startClient, until } from "./helpers.ts";
import { TestServer } from "./server.ts";

describe("signature and address formats", () => {
  test("a starknet.js { r, s } pair becomes two hex felts, r first", () => {
    expect(signatureFelts({ r: 0x1234n, s: 10n })).toEqual(["0x1234", "0xa"]);
  });

  test("a list of felts in any spelling becomes hex felts, in order", () => {
    expect(signatureFelts(["4660", "0x00AbC", 7n, 255, "0"])).toEqual(["0x1234", "0xabc", "0x7", "0xff", "0x0"]);
  });

  test("values that are not felts are refused before anything is sent", () => {
    const p = 2n ** 251n + 17n * 2n ** 192n + 1n;
    expect(signatureFelts([p - 1n])).toEqual([`0x${(p - 1n).toString(16)}`]);
    for (const bad of [[p], [-1n], ["-5"], ["12ab"], [""], [" 12"], ["0b11"], [1.5], [2 ** 60], []]) {
      expect(() => signatureFelts(bad)).toThrow(TypeError);
    }
  });

  test("addresses take the server's canonical spelling", () => {
    expect(canonicalAddress("0xABC")).toBe(`0x${"0".repeat(61)}abc`);
    expect(canonicalAddress(`0x${"0".repeat(10)}1`)).toBe(`0x${"0".repeat(63)}1`);
    expect(() => canonicalAddress("alice")).toThrow(TypeError);
  });
});

describe("wallet sign-in on a devnet", () => {
  let devnet: Devnet;
  let accounts: DevnetAccount[];
  let chainId: string;
  const servers: TestServer[] = [];
  const clients: RealtimeClient[] = [];

  beforeAll(async () => {
    devnet = await Devnet.start();
    accounts = await devnet.accounts();
    chainId = await devnet.chainId();
  }, 60_000);
  afterAll(() => devnet?.stop());
  afterEach(() => {
    for (const c of clients.splice(0)) c.stop();
    for (const s of servers.splice(0)) s.stop();
  });

  /** A server whose wallet sign-in asks this devnet, as the Rust auth tests configure it. */
  async function server(env: Record<string, string> = {}): Promise<TestServer> {
    const s = await TestServer.start({
      config: `[auth.starknet]\nrpc_url = "${devnet.url}"\ndomain_name = "example-world"\nchain_id = "${chainId}"\n`,
      env,
    });
    servers.push(s);
    return s;
  }

  /** A starknet.js v10 account; signing is local, the provider is there for completeness. */
  function account(address: string, privateKey: string): Account {
    return new Account({ provider: new RpcProvider({ nodeUrl: devnet.url }), address, signer: privateKey });
  }

  function me(i = 0): DevnetAccount {
    const a = accounts[i];
    if (!a) throw new Error(`no predeployed account ${i}`);
    return a;
  }

  /** `fetch` counting the challenges asked for. */
  function countingFetch(): { fetch: typeof fetch; challenges: () => number } {
    let n = 0;
    const f: typeof fetch = (input, init) => {
      if (String(input).endsWith("/v1/auth/challenge")) n++;
      return fetch(input, init);
    };
    return { fetch: f, challenges: () => n };
  }

  /** The account, counting its signMessage calls (each one a wallet prompt in a browser). */
  function countingSigner(inner: SignInAccount): { account: SignInAccount; signs: () => number } {
    let n = 0;
    return {
      account: {
        get address() {
          return inner.address;
        },
        signMessage: (typedData) => {
          n++;
          return inner.signMessage(typedData);
        },
      },
      signs: () => n,
    };
  }

  function client(s: TestServer, token: () => Promise<string>): { c: RealtimeClient; events: ClientEvent[] } {
    return startClient(s.url, token, clients);
  }


  test("a starknet.js account signs in and its token opens a client that publishes", async () => {
    const s = await server();
    const { address, private_key } = me();
    const before = Date.now();
    const session = await signIn(s.httpUrl, account(address, private_key));
    expect(session.address).toBe(canonicalAddress(address));
    // The default [auth] session_ttl: 24 h.
    expect(session.expiresAt.getTime()).toBeGreaterThan(before + 23 * 3600_000);
    expect(session.token.split(".")).toHaveLength(3);

    const { c, events } = client(s, async () => session.token);
    await c.subscribe("world");
    await c.publish("world", "gm from a wallet");
    const got = await until("the message", () =>
      events.flatMap((e) => (e.type === "message" ? [e.message] : [])).find((m) => m.body === "gm from a wallet"),
    );
    expect(canonicalAddress(got.sender)).toBe(session.address);
    const connected = events.find((e) => e.type === "connected");
    expect(connected?.type === "connected" && canonicalAddress(connected.address)).toBe(session.address);
  });

  test("a wallet answering with a list of decimal felts signs in too", async () => {
    const s = await server();
    const { address, private_key } = me(1);
    const inner = account(address, private_key);
    // What browser wallets hand back: a plain list of felts, here as decimal strings.
    const wallet: SignInAccount = {
      address: `0x${BigInt(address).toString(16).toUpperCase()}`, // another spelling of it
      signMessage: async (typedData) => stark.formatSignature(await inner.signMessage(typedData)),
    };
    const session = await signIn(`${s.httpUrl}/`, wallet);
    expect(session.address).toBe(canonicalAddress(address));
  });

  test("a signature by the wrong key is refused as invalid_signature", async () => {
    const s = await server();
    const forger = account(me(0).address, me(1).private_key);
    const err = await signIn(s.httpUrl, forger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).body.code).toBe("invalid_signature");
  });

  test("an address with no account contract is refused as account_not_deployed", async () => {
    const s = await server();
    const nobody = account("0x1234567890abcdef", me(0).private_key);
    const err = await signIn(s.httpUrl, nobody).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).body.code).toBe("account_not_deployed");
  });

  test("the token source signs in once for concurrent and later calls", async () => {
    const s = await server();
    const { address, private_key } = me();
    const counted = countingFetch();
    const signer = countingSigner(account(address, private_key));
    const token = walletTokenSource(s.httpUrl, signer.account, { fetch: counted.fetch });

    const [a, b] = await Promise.all([token(), token()]);
    expect(a).toBe(b);
    expect(await token()).toBe(a);
    expect(counted.challenges()).toBe(1);
    expect(signer.signs()).toBe(1);

    // The client asks the source on connect; still no second prompt.
    const { c } = client(s, token);
    await c.subscribe("world");
    await c.publish("world", "one prompt");
    expect(signer.signs()).toBe(1);
  });

  test("the token source signs in again once the token is within the margin of expiry", async () => {
    // Tokens live 4 s here; with a 3 s margin the first one is handed out for about 1 s.
    const s = await server({ TORII_REALTIME__AUTH__SESSION_TTL: "4s" });
    const { address, private_key } = me(2);
    const counted = countingFetch();
    const signer = countingSigner(account(address, private_key));
    const token = walletTokenSource(s.httpUrl, signer.account, { marginMs: 3000, fetch: counted.fetch });

    const first = await token();
    expect(await token()).toBe(first);
    expect(counted.challenges()).toBe(1);

    await new Promise((r) => setTimeout(r, 1500));
    const second = await token();
    expect(second).not.toBe(first);
    expect(counted.challenges()).toBe(2);
    expect(signer.signs()).toBe(2);
    expect(await token()).toBe(second);

    // The new token is a valid session.
    const { c } = client(s, async () => second);
    await c.subscribe("world");
    await c.publish("world", "signed in again");
  });

  test("a failed sign-in is not cached: the next call asks the wallet again", async () => {
    const s = await server();
    const { address, private_key } = me();
    const inner = account(address, private_key);
    let refuse = true;
    const wallet: SignInAccount = {
      address,
      signMessage: async (typedData) => {
        if (refuse) throw new Error("User rejected the request");
        return inner.signMessage(typedData);
      },
    };
    const token = walletTokenSource(s.httpUrl, wallet);
    await expect(Promise.all([token(), token()])).rejects.toThrow("User rejected");
    refuse = false;
    expect((await token()).split(".")).toHaveLength(3);
  });
});
