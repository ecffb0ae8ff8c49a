// What the client tests share: a Node WebSocket for the client, and polling for a condition.
import WebSocket from "ws";

import type { WebSocketLike } from "../src/index.ts";

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
