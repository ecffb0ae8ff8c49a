// The TypeScript client against the real binary: delivery, reconnect with recovery after a
// kill -9, optimistic sends reconciled once stored, history over HTTP while the socket is
// down, in-band refresh, and the op list checked against docs/protocol.schema.json.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { afterEach, describe, expect, test } from "vitest";

import {
  type ClientEvent,
  OPS,
  RealtimeClient,
  backoffDelay,
  threadChannel,
} from "../src/index.ts";
import { startClient, until } from "./helpers.ts";
import { TestServer } from "./server.ts";

const servers: TestServer[] = [];
const clients: RealtimeClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
  for (const s of servers.splice(0)) s.stop();
});

async function server(): Promise<TestServer> {
  const s = await TestServer.start();
  servers.push(s);
  return s;
}

function client(s: TestServer, address: string, token?: () => Promise<string>): { c: RealtimeClient; events: ClientEvent[] } {
  return startClient(s.url, token ?? (async () => s.token(address)), clients);
}


const messages = (events: ClientEvent[]) =>
  events.flatMap((e) => (e.type === "message" ? [[e.seq, e.message.body] as const] : []));

describe("RealtimeClient", () => {
  test("the op list is the schema's", () => {
    const schema = JSON.parse(readFileSync(resolve(__dirname, "../../../docs/protocol.schema.json"), "utf8"));
    const ops: string[] = schema.$defs.ClientFrame.oneOf.map((o: { properties: { op: { const: string } } }) => o.properties.op.const);
    expect([...ops].sort()).toEqual([...OPS].sort());
  });

  test("backoff is full jitter under a growing cap", () => {
    const b = { baseMs: 100, maxMs: 2000 };
    expect(backoffDelay(b, 3, 0.5)).toBe(400);
    expect(backoffDelay(b, 30, 1)).toBe(2000);
    expect(backoffDelay(b, 0, 0)).toBe(0);
  });

  test("comes back after a kill -9 without losing or repeating, with a send made while down", async () => {
    const s = await server();
    const { c, events } = client(s, "0xa");
    const other = client(s, "0xb").c;
    await c.subscribe("world");
    await other.publish("world", "m1");
    await other.publish("world", "m2");
    await until("two messages", () => messages(events).length === 2 || undefined);

    s.kill();
    await until("the drop", () => events.some((e) => e.type === "disconnected") || undefined);
    const sent = c.publish("world", "sent while down");
    expect(c.pending("world").map((p) => p.body)).toEqual(["sent while down"]);
    await s.restart();
    await until("the reconnect", () => events.some((e) => e.type === "connected" && e.reconnect) || undefined);
    const stored = await sent;
    expect(c.pending()).toEqual([]);
    await other.publish("world", "m3");
    await until("four messages", () => messages(events).length === 4 || undefined);
    const got = messages(events);
    expect(got.map((m) => m[0])).toEqual([1, 2, 3, 4]);
    expect(got.filter((m) => m[1] === "sent while down").length).toBe(1);
    expect(got.find((m) => m[1] === "sent while down")?.[0]).toBe(stored.seq);
  });

  test("reads history over HTTP while the socket is down", async () => {
    const s = await server();
    const { c } = client(s, "0xa");
    await c.publish("world", "kept");
    c.stop();
    const page = await c.history("world", { limit: 10 });
    expect(page.messages.map((m) => m.body)).toEqual(["kept"]);
    await expect(c.history("Bad Name")).rejects.toThrow(/invalid_channel/);
  });

  test("direct messages, read receipts, notes in a viewport and sync through the typed helpers", async () => {
    const s = await server();
    const alice = client(s, "0xa11ce");
    const bob = client(s, "0xb0b");
    const dm = threadChannel("0xb0b", "0xa11ce");
    expect(dm).toBe("dm:0xb0b:0xa11ce");
    // dm_started goes to the sockets open at the time: Bob's must be signed in.
    await until("Bob signed in", () => bob.events.some((e) => e.type === "connected") || undefined);
    await alice.c.sendDirect("0xa11ce", "0xb0b", "psst");
    await until("dm_started", () => bob.events.some((e) => e.type === "push" && e.push.push === "dm_started") || undefined);
    await bob.c.subscribe(dm);
    const page = await bob.c.threads();
    expect(page.threads[0]?.unread).toBe(1);
    await alice.c.subscribe(dm);
    await bob.c.read(dm, 1);
    await until("the read receipt", () =>
      alice.events.some((e) => e.type === "push" && e.push.push === "read" && (e.push.data as { seq: number }).seq === 1) || undefined,
    );
    expect((await bob.c.unread()).find((u) => u.channel === dm)?.unread).toBe(0);

    const area = { min_x: 0, min_y: 0, max_x: 20, max_y: 20 };
    await bob.c.watch(area);
    const before = await bob.c.notes(area);
    const note = await alice.c.pinNote({ x: 3, y: 4, title: "here" });
    await until("the note event", () => bob.events.some((e) => e.type === "push" && e.push.push === "note") || undefined);
    const synced = await bob.c.sync({ [dm]: 0 }, { area, rev: before.rev });
    expect(synced.channels[0]?.messages.map((m) => m.body)).toEqual(["psst"]);
    expect(synced.notes?.changes.length).toBe(1);
    expect(note.visibility).toBe("public");
    expect((await bob.c.presence(dm)).count).toBe(2);
  });

  test("refreshes the session in band", async () => {
    const s = await server();
    let calls = 0;
    const { c, events } = client(s, "0xa", async () => s.token("0xa", calls++ === 0 ? "3s" : "1h"));
    await until("connected", () => events.some((e) => e.type === "connected") || undefined);
    const ok = await c.refresh();
    expect(Date.parse(ok.expires_at) - Date.now()).toBeGreaterThan(60_000);
    // Past the first token's expiry the socket is still the same one.
    await new Promise((r) => setTimeout(r, 3500));
    expect(events.filter((e) => e.type === "disconnected")).toEqual([]);
    await c.request("ping");
  });
});
