// The store over two real clients against the real binary: an optimistic send reconciled with
// the stored message, unread counts that a focus clears, a direct message that opens the thread
// on the other side with a read receipt back, typing, presence, and a gap-free reload after a
// kill -9 of the server.
import { afterEach, expect, test } from "vitest";
import WebSocket from "ws";

import { RealtimeClient, type WebSocketLike, threadChannel } from "../src/index.ts";
import { type Notice, RealtimeStore } from "../src/store.ts";
import { TestServer } from "./server.ts";

const servers: TestServer[] = [];
const stores: RealtimeStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) {
    s.dispose();
    s.client.stop();
  }
  for (const s of servers.splice(0)) s.stop();
});

function store(s: TestServer, address: string): RealtimeStore {
  const c = new RealtimeClient({
    url: s.url,
    token: async () => s.token(address),
    webSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike,
    backoff: { baseMs: 50, maxMs: 500 },
  });
  const st = new RealtimeStore(c);
  stores.push(st);
  c.start();
  return st;
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const A = "0x1001";
const B = "0x1002";

test("a send shows pending, then the stored message; the other side counts it unread until focused", async () => {
  const s = await TestServer.start();
  servers.push(s);
  const a = store(s, A);
  const b = store(s, B);
  a.open("world", { presence: true });
  b.open("world");
  await until("a follows world", () => a.getState().channels.world?.loading === false);
  await until("b follows world", () => b.getState().channels.world?.loading === false);
  await until("a sees b present", () => a.getState().channels.world?.presence?.count === 2);

  const sent = a.send("world", "gm");
  expect(a.getState().channels.world?.pending.map((p) => p.body)).toEqual(["gm"]);
  await sent;
  const view = a.getState().channels.world!;
  expect(view.pending).toEqual([]);
  expect(view.messages.map((m) => [m.seq, m.body])).toEqual([[1, "gm"]]);
  expect(view.unread).toBe(0);

  const inB = await until("b gets it", () => (b.getState().channels.world?.messages.length === 1 ? b.getState().channels.world : undefined));
  expect(inB.unread).toBe(1);
  b.focus("world", true);
  expect(b.getState().channels.world?.unread).toBe(0);
  // The position is stored: a fresh store for the same address starts at zero unread.
  const b2 = store(s, B);
  b2.open("world");
  await until("b2 loaded", () => b2.getState().channels.world?.loading === false);
  await until("b2 read state", () => b2.getState().channels.world?.readSeq === 1);
  expect(b2.getState().channels.world?.unread).toBe(0);
});

test("a direct message opens the thread on the other side; typing and a read receipt come back", async () => {
  const s = await TestServer.start();
  servers.push(s);
  const a = store(s, A);
  const b = store(s, B);
  const notices: Notice[] = [];
  b.onNotice((n) => notices.push(n));
  await until("both signed in", () => a.getState().me && b.getState().me);
  const dm = threadChannel(A, B);

  a.open(dm);
  await a.send(dm, "want to raid?");
  await until("b lists the thread", () => b.getState().threads.find((t) => t.channel === dm));
  await until("b has the message", () => b.getState().channels[dm]?.messages.some((m) => m.body === "want to raid?"));
  await until("b counts it", () => b.getState().threads.find((t) => t.channel === dm)?.unread);
  // Listed and pushed, it is counted once.
  await new Promise((r) => setTimeout(r, 300));
  expect(b.getState().threads.find((t) => t.channel === dm)?.unread).toBe(1);
  await until("b was told", () => notices.some((n) => n.type === "message" && n.direct));

  a.typing(dm);
  await until("b sees a typing", () => b.getState().channels[dm]?.typing.length === 1);
  await until("typing expires", () => b.getState().channels[dm]?.typing.length === 0, 15_000);

  b.focus(dm, true);
  await until("the receipt reaches a", () => a.getState().channels[dm]?.peerReadSeq === 1);
  expect(b.getState().threads.find((t) => t.channel === dm)?.unread).toBe(0);
});

test("after a kill -9 the store reconnects and a send made meanwhile lands once", async () => {
  const s = await TestServer.start();
  servers.push(s);
  const a = store(s, A);
  const b = store(s, B);
  a.open("world");
  b.open("world");
  await until("a follows", () => a.getState().channels.world?.loading === false);
  await until("b follows", () => b.getState().channels.world?.loading === false);
  await a.send("world", "one");

  s.kill();
  await until("a notices", () => a.getState().status === "reconnecting");
  const sent = a.send("world", "two");
  expect(a.getState().channels.world?.pending.map((p) => p.body)).toEqual(["two"]);
  await s.restart();
  await sent;
  await until("a is back", () => a.getState().status === "connected");
  const bodies = await until("b has both, once", () => {
    const m = b.getState().channels.world?.messages ?? [];
    return m.length === 2 ? m.map((x) => [x.seq, x.body]) : undefined;
  });
  expect(bodies).toEqual([
    [1, "one"],
    [2, "two"],
  ]);
  expect(a.getState().channels.world?.pending).toEqual([]);
});
