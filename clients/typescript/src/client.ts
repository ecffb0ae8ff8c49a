// A client that stays connected: it reconnects after any drop with full-jitter exponential
// backoff, asks for a token on every connection, subscribes again from the last seq it
// delivered (the server replays what was missed), refreshes the session token in band before
// it expires, and retries publishes through drops under one client message id, so a publish
// whose reply was lost is stored once. While the socket is down, history is read over HTTP.

import {
  AUTH_CLOSE_CODES,
  type Area,
  type Connected,
  type ErrorBody,
  FATAL_CLOSE_CODES,
  type HistoryPage,
  type MeOk,
  type NamesOk,
  type MessageData,
  type NewNote,
  type NoteData,
  type NotesPage,
  type Op,
  type PresenceSnapshot,
  type PublishOk,
  type ReportOk,
  type ReportReason,
  type PushFrame,
  type RefreshOk,
  type SubscribeOk,
  type SyncOk,
  type ThreadsPage,
  type UnreadItem,
  threadChannel,
} from "./protocol.ts";

/** The part of the WebSocket API the client uses (browsers' `WebSocket`, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** Full jitter: attempt `n` waits a random time up to `min(max, base × 2^n)`. */
export function backoffDelay(b: Backoff, attempt: number, unit: number): number {
  const cap = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 20));
  return cap * Math.min(Math.max(unit, 0), 1);
}

export interface ClientOptions {
  /** `ws://host:port/v1/ws` (or `wss://`). */
  url: string;
  /** Asked for a session token on every connection and before the token expires. */
  token: () => Promise<string>;
  /** Defaults to `globalThis.WebSocket`. */
  webSocket?: WebSocketFactory;
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  backoff?: Backoff;
  requestTimeoutMs?: number;
}

export type ClientEvent =
  | { type: "connected"; address: string; reconnect: boolean }
  | { type: "message"; channel: string; seq: number; message: MessageData }
  | { type: "push"; push: PushFrame }
  | { type: "gap"; channel: string; after: number }
  /** Who is present in a channel followed with presence, after a reconnect. */
  | { type: "presence"; channel: string; snapshot: PresenceSnapshot }
  | { type: "disconnected"; code: number; reason: string }
  | { type: "stopped"; reason: string };

/** A request the server refused, with its code. */
export class ServerError extends Error {
  constructor(readonly body: ErrorBody) {
    super(`${body.code}: ${body.message}`);
  }
}

/** The connection ended before the reply came. */
export class ConnectionLost extends Error {}

/** A publish not acknowledged yet, shown optimistically. */
export interface PendingMessage {
  channel: string;
  client_msg_id: string;
  body: string;
}

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

/** A fresh client message id. */
export function clientMsgId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RealtimeClient {
  private readonly opts: Required<Omit<ClientOptions, "webSocket" | "fetch">> & {
    webSocket: WebSocketFactory;
    fetch: typeof fetch;
  };
  private socket: WebSocketLike | null = null;
  private nextId = 1;
  private waiters = new Map<number, Waiter>();
  private listeners = new Set<(e: ClientEvent) => void>();
  /** Subscribed channels and the last seq delivered. */
  private channels = new Map<string, number>();
  /** Channels followed with presence. */
  private withPresence = new Set<string>();
  private pendingSends = new Map<string, PendingMessage>();
  private ready: Promise<void>;
  private markReady!: () => void;
  private attempt = 0;
  private connectedOnce = false;
  private stopped = false;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: ClientOptions) {
    const ws: WebSocketFactory =
      options.webSocket ??
      ((url, protocols) => new (globalThis as unknown as { WebSocket: new (u: string, p: string[]) => WebSocketLike }).WebSocket(url, protocols));
    this.opts = {
      url: options.url,
      token: options.token,
      webSocket: ws,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      backoff: options.backoff ?? { baseMs: 250, maxMs: 30_000 },
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    };
    this.ready = this.newReady();
  }

  /** Listens to events; returns the function that stops listening. */
  on(listener: (e: ClientEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts connecting. */
  start(): void {
    this.stopped = false;
    void this.connect();
  }

  /** Closes the connection and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.socket?.close(1000, "bye");
  }

  /** Whether a signed-in connection is live. */
  get connected(): boolean {
    return this.socket !== null && this.socket.readyState === 1 && this.isReady;
  }
  private isReady = false;

  /** Sends one op and resolves with its reply, waiting for a connection first. */
  async request<T>(op: Op, args: Record<string, unknown> = {}): Promise<T> {
    await this.ready;
    return this.send<T>(op, args);
  }

  /** Follows `channel` now and after every reconnect, from the last seq delivered. With
   * `presence`, the reply says who is present and `presence_change` pushes follow. */
  async subscribe(channel: string, options: { presence?: boolean } = {}): Promise<SubscribeOk> {
    if (options.presence) this.withPresence.add(channel);
    for (;;) {
      try {
        const ok = await this.request<SubscribeOk>("subscribe", defined({ channel, presence: options.presence || undefined }));
        if (options.presence && ok.channel !== channel) this.withPresence.add(ok.channel);
        if (!this.channels.has(ok.channel)) this.channels.set(ok.channel, ok.last_seq);
        return ok;
      } catch (e) {
        if (!(e instanceof ConnectionLost)) throw e;
        if (this.stopped) throw e;
      }
    }
  }

  /** Stops following `channel`. */
  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    this.withPresence.delete(channel);
    if (!this.connected) return;
    try {
      await this.send("unsubscribe", { channel });
    } catch (e) {
      // Not subscribed (never was, or revoked) or dropped: either way it is not followed.
      if (!(e instanceof ConnectionLost) && !(e instanceof ServerError)) throw e;
    }
  }

  /** The last seq delivered on each followed channel. */
  cursors(): Record<string, number> {
    return Object.fromEntries(this.channels);
  }

  /** Who this session is on chain: name, player status, groups and their channels. */
  me(): Promise<MeOk> {
    return this.request<MeOk>("me");
  }

  /** The `[players] name` of up to 100 addresses, keyed by canonical address. */
  async names(addresses: string[]): Promise<Record<string, string>> {
    return (await this.request<NamesOk>("names", { addresses })).names;
  }

  /** Reports message `seq` of `channel`, or note `note`, to the moderators; `duplicate`
   * when this address had reported it already. */
  async report(
    target: { channel: string; seq: number } | { note: number },
    reason: ReportReason,
    comment?: string,
  ): Promise<ReportOk> {
    const args = "note" in target ? { note: target.note } : { message: { channel: target.channel, seq: target.seq } };
    return this.request<ReportOk>("report", { ...args, reason, ...(comment === undefined ? {} : { comment }) });
  }

  /** Publishes `body`, shown in `pending()` until stored; retried through drops and
   * `unavailable` under one client message id, so it is stored once. */
  async publish(channel: string, body: string, id: string = clientMsgId()): Promise<PublishOk> {
    this.pendingSends.set(id, { channel, client_msg_id: id, body });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.request<PublishOk>("publish", { channel, body, client_msg_id: id });
        } catch (e) {
          if (e instanceof ConnectionLost) continue;
          if (e instanceof ServerError && (e.body.code === "unavailable" || e.body.code === "rate_limited")) {
            const wait = e.body.retry_after_ms ?? backoffDelay(this.opts.backoff, attempt, Math.random());
            await sleep(wait);
            continue;
          }
          throw e;
        }
      }
    } finally {
      this.pendingSends.delete(id);
    }
  }

  /** Publishes not acknowledged yet (to show optimistically), oldest first. */
  pending(channel?: string): PendingMessage[] {
    return [...this.pendingSends.values()].filter((p) => channel === undefined || p.channel === channel);
  }

  /** A page of history: over the socket when it is live, over HTTP otherwise. */
  async history(channel: string, page: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryPage> {
    if (this.connected) {
      try {
        return await this.send<HistoryPage>("history", { channel, ...page });
      } catch (e) {
        if (!(e instanceof ConnectionLost)) throw e;
      }
    }
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(page)) if (v !== undefined) query.set(k, String(v));
    const url = `${httpBase(this.opts.url)}/v1/channels/${encodeURIComponent(channel)}/messages?${query}`;
    const res = await this.opts.fetch(url, { headers: { authorization: `Bearer ${await this.opts.token()}` } });
    const json = (await res.json()) as HistoryPage | { error: ErrorBody };
    if ("error" in json) throw new ServerError(json.error);
    return json;
  }

  /** Sends a direct message to `peer` (the thread `dm:LOW:HIGH` with `me`). */
  async sendDirect(me: string, peer: string, body: string): Promise<PublishOk> {
    return this.publish(threadChannel(me, peer), body);
  }

  /** A page of this address's direct-message threads, newest first. */
  threads(before?: string, limit?: number): Promise<ThreadsPage> {
    return this.request<ThreadsPage>("threads", defined({ before, limit }));
  }

  /** Marks `channel` read up to `seq` (a read receipt in a thread). */
  read(channel: string, seq: number): Promise<{ channel: string; seq: number }> {
    return this.request("read", { channel, seq });
  }

  /** Unread counts of every channel read before and every thread. */
  async unread(): Promise<UnreadItem[]> {
    return (await this.request<{ channels: UnreadItem[] }>("unread")).channels;
  }

  block(address: string): Promise<{ address: string; blocked: boolean; changed: boolean }> {
    return this.request("block", { address });
  }

  unblock(address: string): Promise<{ address: string; blocked: boolean; changed: boolean }> {
    return this.request("unblock", { address });
  }

  /** Tells the channel's other subscribers that this address is typing (send every few s). */
  typing(channel: string): Promise<{ channel: string; expires_in_ms: number }> {
    return this.request("typing", { channel });
  }

  /** Who is present in `channel`. */
  presence(channel: string): Promise<PresenceSnapshot> {
    return this.request<PresenceSnapshot>("presence", { channel });
  }

  /** Watches a map area (and/or one's own entities): `entity` and `note` pushes follow. */
  watch(area?: Area, mine = false): Promise<{ area?: Area; mine: boolean }> {
    return this.request("watch", defined({ area, mine }));
  }

  /** A page of the notes in `area` this address may see, newest first. */
  notes(area: Area, before?: number, limit?: number): Promise<NotesPage> {
    return this.request<NotesPage>("notes", defined({ area, before, limit }));
  }

  async pinNote(note: NewNote): Promise<NoteData> {
    return (await this.request<{ note: NoteData }>("note_create", { ...note })).note;
  }

  /** What was missed since the given cursors (see the protocol's `sync`). */
  sync(channels: Record<string, number>, notes?: { area: Area; rev: number }): Promise<SyncOk> {
    return this.request<SyncOk>("sync", defined({ channels, notes }));
  }

  /** Extends the session in band with a fresh token from the token source. */
  async refresh(): Promise<RefreshOk> {
    const token = await this.opts.token();
    const ok = await this.request<RefreshOk>("refresh", { token });
    this.scheduleRefresh(ok.expires_at);
    return ok;
  }

  private newReady(): Promise<void> {
    this.isReady = false;
    return new Promise((resolve) => {
      this.markReady = () => {
        this.isReady = true;
        resolve();
      };
    });
  }

  private emit(e: ClientEvent): void {
    for (const l of this.listeners) l(e);
  }

  private send<T>(op: Op, args: Record<string, unknown>): Promise<T> {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return Promise.reject(new ConnectionLost("not connected"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new ConnectionLost(`no reply to ${op} within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      socket.send(JSON.stringify({ ...args, id, op }));
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.opts.token();
    } catch (e) {
      this.emit({ type: "stopped", reason: `no token: ${String(e)}` });
      return;
    }
    const socket = this.opts.webSocket(this.opts.url, ["realtime.v1", `bearer.${token}`]);
    this.socket = socket;
    socket.onmessage = (ev) => this.onFrame(String(ev.data));
    socket.onerror = () => {};
    socket.onclose = (ev) => this.onClose(socket, ev.code, ev.reason);
  }

  private onFrame(text: string): void {
    let frame: { id?: number | null; ok?: unknown; error?: ErrorBody } & Partial<PushFrame>;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame.id === "number") {
      const w = this.waiters.get(frame.id);
      if (!w) return;
      this.waiters.delete(frame.id);
      clearTimeout(w.timer);
      if (frame.error) w.reject(new ServerError(frame.error));
      else w.resolve(frame.ok);
      return;
    }
    if (typeof frame.push !== "string") return;
    const push = frame as PushFrame;
    if (push.push === "connected") {
      void this.onConnected(push.data as Connected);
      return;
    }
    if (push.push === "message" && push.channel !== undefined && push.seq !== undefined) {
      const last = this.channels.get(push.channel) ?? 0;
      if (push.seq <= last) return;
      this.channels.set(push.channel, push.seq);
      this.emit({ type: "message", channel: push.channel, seq: push.seq, message: push.data as MessageData });
      return;
    }
    if (push.push === "permission_revoked" && push.channel !== undefined) {
      this.channels.delete(push.channel);
      this.withPresence.delete(push.channel);
    }
    this.emit({ type: "push", push });
  }

  private async onConnected(c: Connected): Promise<void> {
    this.attempt = 0;
    try {
      for (const [channel, last] of [...this.channels]) {
        const presence = this.withPresence.has(channel) || undefined;
        const ok = await this.send<SubscribeOk>("subscribe", defined({ channel, since: last, presence }));
        if (ok.presence) this.emit({ type: "presence", channel, snapshot: ok.presence });
        if (ok.recovered === false) {
          this.channels.set(channel, ok.last_seq);
          this.emit({ type: "gap", channel, after: last });
        }
      }
    } catch {
      return; // The connection dropped while restoring: the next one restores again.
    }
    this.scheduleRefresh(c.expires_at);
    this.markReady();
    this.emit({ type: "connected", address: c.address, reconnect: this.connectedOnce });
    this.connectedOnce = true;
  }

  private scheduleRefresh(expiresAt: string): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    const left = Date.parse(expiresAt) - Date.now();
    if (!Number.isFinite(left) || left <= 0) return;
    // Well before expiry, and never in a tight loop.
    this.refreshTimer = setTimeout(() => void this.refresh().catch(() => {}), Math.max(left * 0.8, 1000));
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.isReady) this.ready = this.newReady();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new ConnectionLost(`closed (${code})`));
    }
    this.waiters.clear();
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.has(code)) {
      this.emit({ type: "stopped", reason: `closed ${code}: ${reason}` });
      return;
    }
    this.emit({ type: "disconnected", code, reason });
    // An auth close is retried once at once with a fresh token; others back off.
    const delay = AUTH_CLOSE_CODES.has(code) && this.attempt === 0 ? 0 : backoffDelay(this.opts.backoff, this.attempt, Math.random());
    this.attempt++;
    setTimeout(() => void this.connect(), delay);
  }
}

/** `args` without its undefined fields (the server refuses unknown or null arguments). */
function defined(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `http(s)://host:port` of a `ws(s)://host:port/v1/ws` URL. */
export function httpBase(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  return u.origin;
}
