// The store over two real clients against the real binary: an optimistic send reconciled with
// the stored message, unread counts that a focus clears, a direct message that opens the thread
// on the other side with a read receipt back, typing, presence, a gap-free reload after a
// kill -9 of the server, and a `sync` after a dropped connection that brings back what
// changed meanwhile.
import { afterEach, expect, test } from "vitest";
import WebSocket from "ws";

import { RealtimeClient, type WebSocketLike, threadChannel } from "../src/index.ts";
import { type Notice, RealtimeStore } from "../src/store.ts";
import { nodeSocket, until } from "./helpers.ts";
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

/** A network the test can cut: while down, connections fail; `cut` drops the live one. */
class Network {
  down = false;
  private live: WebSocket | null = null;
  connect = (url: string, protocols: string[]): WebSocketLike => {
    const ws = new WebSocket(this.down ? "ws://127.0.0.1:1/v1/ws" : url, protocols);
    ws.on("error", () => {});
    this.live = ws;
    return ws as unknown as WebSocketLike;
  };
  cut(): void {
    this.down = true;
    this.live?.terminate();
  }
}

function store(s: TestServer, address: string, network?: Network): RealtimeStore {
  const c = new RealtimeClient({
    url: s.url,
    token: async () => s.token(address),
    webSocket: network?.connect ?? (nodeSocket),
    backoff: { baseMs: 50, maxMs: 500 },
  });
  const st = new RealtimeStore(c);
  stores.push(st);
  c.start();
  return st;
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

test("back from a dropped connection, one sync brings the note, the receipt and the message missed", async () => {
  const s = await TestServer.start();
  servers.push(s);
  const a = store(s, A);
  const network = new Network();
  const b = store(s, B, network);
  const dm = threadChannel(A, B);
  const area = { min_x: 0, min_y: 0, max_x: 20, max_y: 20 };
  await until("both signed in", () => a.getState().me && b.getState().me);
  await b.setViewport(area);
  a.open(dm);
  await a.send(dm, "hi");
  await until("b follows the thread", () => b.getState().channels[dm]?.messages.length === 1);
  await b.send(dm, "yo");
  await until("a has it", () => a.getState().channels[dm]?.lastSeq === 2);

  network.cut();
  await until("b is offline", () => b.getState().status === "reconnecting");
  await a.pinNote({ x: 5, y: 5, title: "Rally here", visibility: "public" });
  a.focus(dm, true);
  await a.send(dm, "one more");
  network.down = false;

  await until("b is back", () => b.getState().status === "connected");
  await until("b has the note", () => Object.values(b.getState().notes).some((n) => n.title === "Rally here"));
  await until("b has a's receipt", () => (b.getState().channels[dm]?.peerReadSeq ?? 0) >= 2);
  await until("b has the message", () => b.getState().channels[dm]?.messages.some((m) => m.body === "one more"));
  expect(b.getState().channels[dm]?.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
});

test("a report reaches the moderators, and a message they remove loses its text in every view", async () => {
  const moderator = "0x1003";
  const s = await TestServer.start({ config: `\n[moderation]\nmoderators = ["${moderator}"]\n` });
  servers.push(s);
  const a = store(s, A);
  const b = store(s, B);
  a.open("world");
  b.open("world");
  await until("a follows world", () => a.getState().channels.world?.loading === false);
  await until("b follows world", () => b.getState().channels.world?.loading === false);
  await a.send("world", "something awful");
  await a.send("world", "and then fine");
  await until("b has both", () => b.getState().channels.world?.messages.length === 2);

  expect(await b.client.report({ channel: "world", seq: 1 }, "harassment", "rude")).toEqual({ duplicate: false });
  expect(await b.client.report({ channel: "world", seq: 1 }, "harassment")).toEqual({ duplicate: true });

  const token = s.token(moderator);
  const api = (path: string, body?: unknown) =>
    fetch(`${s.httpUrl}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    }).then((r) => r.json());
  const queue = await api("/v1/moderation/jobs");
  expect(queue.jobs.map((j: { kind: string; reports: number }) => [j.kind, j.reports])).toEqual([["report", 1]]);
  await api(`/v1/moderation/jobs/${queue.jobs[0].id}/resolve`, { reason: "harassment", remove: true });

  for (const st of [a, b]) {
    const removed = await until("the message is removed", () => st.getState().channels.world?.messages.find((m) => m.seq === 1 && m.deleted));
    expect(removed.body).toBe("");
  }
  expect(b.getState().channels.world?.messages.find((m) => m.seq === 2)?.body).toBe("and then fine");
});
