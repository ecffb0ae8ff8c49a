// What the client tests share: a Node WebSocket for the client, a started client, and polling
// for a condition.
import WebSocket from "ws";

import { type ClientEvent, RealtimeClient, type WebSocketLike } from "../src/index.ts";

/** `ws` as the client's WebSocket factory. */
export const nodeSocket = (url: string, protocols: string[]): WebSocketLike =>
  new WebSocket(url, protocols) as unknown as WebSocketLike;

/** Polls `f` every 20 ms until it gives something other than `undefined` or `false`. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A started client of `url` with quick reconnects, and the events it emitted; `started`
 * collects it for the test's cleanup. */
export function startClient(
  url: string,
  token: () => Promise<string>,
  started: RealtimeClient[],
): { c: RealtimeClient; events: ClientEvent[] } {
  const c = new RealtimeClient({ url, token, webSocket: nodeSocket, backoff: { baseMs: 50, maxMs: 500 } });
  const events: ClientEvent[] = [];
  c.on((e) => events.push(e));
  started.push(c);
  c.start();
  return { c, events };
}
