// A normalised store over a `RealtimeClient`, with no framework: messages by channel with
// their paging cursor, optimistic sends, unread counts and read receipts, typing and presence,
// the direct-message threads, and the notes and units in the map viewport. Every change
// replaces the parts it touches, so a view can compare snapshots by reference (React's
// `useSyncExternalStore` does). The React bindings in `./react` are a thin layer over it.

import { type ClientEvent, type RealtimeClient, clientMsgId } from "./client.ts";
import type { Area, EntityUpdate, MessageData, NoteData, NoteEvent, PushFrame, ThreadItem } from "./protocol.ts";
import {
  type ChannelView,
  type MapEntity,
  type Notice,
  type StoreState,
  byId,
  canonical,
  emptyChannel,
  errorOf,
  inside,
  keepInside,
  merge,
  sameAddress,
  sameArea,
  threadTime,
  without,
} from "./store-state.ts";

export type { ChannelView, MapEntity, Notice, OutgoingMessage, StoreState } from "./store-state.ts";
export { sameAddress } from "./store-state.ts";

const PAGE = 50;
/** Threads followed on connect, newest first (each is a subscription). */
const FOLLOWED_THREADS = 20;

export class RealtimeStore {
  private state: StoreState = {
    status: "connecting",
    me: null,
    channels: {},
    threads: [],
    viewport: null,
    notes: {},
    entities: {},
    names: {},
  };
  private listeners = new Set<() => void>();
  private noticeListeners = new Set<(n: Notice) => void>();
  /** Open handles per channel, and the channels opened with presence. */
  private holders = new Map<string, number>();
  private withPresence = new Set<string>();
  private typingUntil = new Map<string, Map<string, number>>();
  private typingTimer: ReturnType<typeof setInterval> | null = null;
  private lastTypingSent = new Map<string, number>();
  private focused = new Set<string>();
  private announced = new Set<string>();
  /** Addresses whose name was asked for (or is about to be). */
  private namesAsked = new Set<string>();
  private namesWanted = new Set<string>();
  private namesTimer: ReturnType<typeof setTimeout> | null = null;
  /** The note clock as last seen in the viewport (a page, a push, a sync). */
  private notesRev: number | null = null;
  private readonly off: () => void;

  constructor(readonly client: RealtimeClient) {
    this.off = client.on((e) => this.onEvent(e));
  }

  getState = (): StoreState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  onNotice(listener: (n: Notice) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }

  /** Stops listening to the client (the client itself is left running). */
  dispose(): void {
    this.off();
    if (this.namesTimer) clearTimeout(this.namesTimer);
    if (this.typingTimer) clearInterval(this.typingTimer);
  }

  /** Follows `channel` while the returned function is not called (shared by every opener):
   * subscribes, loads the newest page, and keeps it live. */
  open(channel: string, options: { presence?: boolean } = {}): () => void {
    const n = this.holders.get(channel) ?? 0;
    this.holders.set(channel, n + 1);
    if (options.presence) this.withPresence.add(channel);
    if (n === 0 || (options.presence && !this.channelOf(channel)?.presence)) void this.follow(channel);
    return () => {
      const left = (this.holders.get(channel) ?? 1) - 1;
      if (left > 0) return void this.holders.set(channel, left);
      this.holders.delete(channel);
      this.withPresence.delete(channel);
      if (!channel.startsWith("dm:")) {
        void this.client.unsubscribe(channel);
        this.patch({ channels: without(this.state.channels, channel) });
      }
    };
  }

  /** While focused (on screen), a channel is marked read as messages arrive. */
  focus(channel: string, on: boolean): void {
    if (on) {
      this.focused.add(channel);
      void this.markRead(channel);
    } else this.focused.delete(channel);
  }

  /** Loads the page before the oldest loaded message. */
  async loadOlder(channel: string): Promise<void> {
    const view = this.channelOf(channel);
    if (!view || !view.hasMore || view.loading) return;
    const before = view.messages[0]?.seq ?? view.lastSeq + 1;
    this.updateChannel(channel, (c) => ({ ...c, loading: true }));
    try {
      const page = await this.client.history(channel, { before, limit: PAGE });
      this.updateChannel(channel, (c) => ({
        ...c,
        messages: merge(page.messages, c.messages),
        hasMore: page.has_more,
        loading: false,
      }));
    } catch (e) {
      this.updateChannel(channel, (c) => ({ ...c, loading: false, error: errorOf(e) }));
    }
  }

  /** Sends `body`: shown at once as pending, replaced by the stored message when it lands;
   * retried through drops under one client message id, so it is stored once. */
  async send(channel: string, body: string): Promise<void> {
    const id = clientMsgId();
    this.updateChannel(channel, (c) => ({ ...c, pending: [...c.pending, { client_msg_id: id, body }] }));
    try {
      const ok = await this.client.publish(channel, body, id);
      const sender = this.state.me?.address ?? "";
      this.updateChannel(channel, (c) => ({
        ...c,
        pending: c.pending.filter((p) => p.client_msg_id !== id),
        messages: merge(c.messages, [{ seq: ok.seq, sender, body, ts: ok.ts, client_msg_id: id }]),
        lastSeq: Math.max(c.lastSeq, ok.seq),
      }));
      if (this.focused.has(channel)) void this.markRead(channel);
    } catch (e) {
      const error = errorOf(e);
      this.updateChannel(channel, (c) => ({
        ...c,
        pending: c.pending.map((p) => (p.client_msg_id === id ? { ...p, error } : p)),
      }));
      this.notify({ type: "error", error });
    }
  }

  /** Forgets a refused send. */
  dismiss(channel: string, clientMsgId: string): void {
    this.updateChannel(channel, (c) => ({ ...c, pending: c.pending.filter((p) => p.client_msg_id !== clientMsgId) }));
  }

  /** Marks `channel` read up to its last message (a read receipt in a thread). */
  async markRead(channel: string): Promise<void> {
    const view = this.channelOf(channel);
    if (!view || view.lastSeq <= view.readSeq) return;
    const seq = view.lastSeq;
    this.updateChannel(channel, (c) => ({ ...c, readSeq: Math.max(c.readSeq, seq), unread: 0 }));
    this.patchThread(channel, (t) => ({ ...t, read_seq: Math.max(t.read_seq, seq), unread: 0 }));
    try {
      await this.client.read(channel, seq);
    } catch {
      // A position that did not move is harmless: the next read moves it.
    }
  }

  /** Tells the channel this address is typing; at most once every 3 s. */
  typing(channel: string): void {
    const now = Date.now();
    if (now - (this.lastTypingSent.get(channel) ?? 0) < 3000) return;
    this.lastTypingSent.set(channel, now);
    void this.client.typing(channel).catch(() => {});
  }

  /** Follows on-chain updates and notes inside `area` (and this address's own units). */
  async setViewport(area: Area | null, force = false): Promise<void> {
    if (!force && sameArea(area, this.state.viewport)) return;
    this.notesRev = null;
    this.patch({ viewport: area, notes: {}, entities: keepInside(this.state.entities, area) });
    if (!this.client.connected && this.state.status !== "connecting") return;
    try {
      await this.client.watch(area ?? undefined, true);
      if (area) {
        const page = await this.client.notes(area, undefined, 100);
        if (this.state.viewport === area) {
          this.notesRev = page.rev;
          this.patch({ notes: byId(page.notes) });
          this.learnNames(page.notes.map((n) => n.author));
        }
      }
    } catch (e) {
      // `not_found`: this server has neither a map feed nor notes; the map stays empty.
      const error = errorOf(e);
      if (error.code !== "not_found") this.notify({ type: "error", error });
    }
  }

  /** Pins a note; it shows once the server confirms it (and reaches other viewers). */
  async pinNote(note: Parameters<RealtimeClient["pinNote"]>[0]): Promise<NoteData> {
    const created = await this.client.pinNote(note);
    this.upsertNote(created);
    return created;
  }

  /** Refreshes the thread list (first page). */
  async refreshThreads(): Promise<void> {
    try {
      const page = await this.client.threads(undefined, FOLLOWED_THREADS);
      // A page read before a message committed must not undo what its push told since.
      const local = new Map(this.state.threads.map((t) => [t.channel, t]));
      const threads = page.threads.map((t) => {
        const l = local.get(t.channel);
        return l && l.last_seq > t.last_seq ? { ...t, last_seq: l.last_seq, last_message: l.last_message ?? null, unread: l.unread } : t;
      });
      for (const l of local.values()) if (!threads.some((t) => t.channel === l.channel)) threads.push(l);
      this.patch({ threads: threads.sort((a, b) => threadTime(b) - threadTime(a)) });
      this.learnNames(threads.map((t) => t.peer));
      for (const t of page.threads) {
        if (!this.holders.has(t.channel)) this.holders.set(t.channel, 1);
        if (!this.state.channels[t.channel]) void this.follow(t.channel);
      }
    } catch (e) {
      this.notify({ type: "error", error: errorOf(e) });
    }
  }

  private channelOf(channel: string): ChannelView | undefined {
    return this.state.channels[channel];
  }

  private async follow(channel: string, announce = false): Promise<void> {
    if (!this.channelOf(channel)) this.patch({ channels: { ...this.state.channels, [channel]: emptyChannel(channel) } });
    try {
      const presence = this.withPresence.has(channel);
      const ok = await this.client.subscribe(channel, presence ? { presence } : {});
      const page = await this.client.history(channel, { limit: PAGE });
      this.updateChannel(channel, (c) => ({
        ...c,
        messages: merge(page.messages, c.messages),
        hasMore: page.has_more,
        loading: false,
        lastSeq: Math.max(c.lastSeq, ok.last_seq),
        presence: ok.presence ?? c.presence,
        error: null,
      }));
      if (announce) {
        const me = this.state.me?.address;
        const first = page.messages.find((m) => !sameAddress(m.sender, me));
        if (first) this.notify({ type: "message", channel, message: first, direct: channel.startsWith("dm:") });
      }
      if (this.focused.has(channel)) void this.markRead(channel);
    } catch (e) {
      const error = errorOf(e);
      if (error.code === "already_subscribed") {
        this.updateChannel(channel, (c) => ({ ...c, loading: false }));
        return;
      }
      this.updateChannel(channel, (c) => ({ ...c, loading: false, error }));
    }
  }

  private onEvent(e: ClientEvent): void {
    switch (e.type) {
      case "connected":
        this.patch({ status: "connected" });
        void this.onConnected(e.reconnect);
        return;
      case "disconnected":
        this.patch({ status: "reconnecting" });
        return;
      case "stopped":
        this.patch({ status: "stopped" });
        return;
      case "message":
        this.onMessage(e.channel, e.seq, e.message);
        return;
      case "gap":
        void this.reload(e.channel);
        return;
      case "presence":
        this.updateChannel(e.channel, (c) => ({ ...c, presence: e.snapshot }));
        return;
      case "push":
        this.onPush(e.push);
        return;
    }
  }

  private async onConnected(reconnect: boolean): Promise<void> {
    try {
      this.patch({ me: await this.client.me() });
    } catch {
      // Without `me`, group channels are unknown; everything else works.
    }
    const viewport = this.state.viewport;
    const resumeNotes = reconnect && viewport !== null && this.notesRev !== null;
    try {
      // The watch belongs to the connection: set it again before asking what changed.
      if (reconnect && viewport) await this.client.watch(viewport, true);
      await this.catchUp(resumeNotes && viewport ? { area: viewport, rev: this.notesRev ?? 0 } : undefined);
    } catch (e) {
      this.notify({ type: "error", error: errorOf(e) });
    }
    await this.refreshThreads();
    if (reconnect && viewport && !resumeNotes) await this.setViewport(viewport, true);
  }

  /** One `sync`: unread counts, the peers' read positions in the followed threads (with any
   * of their messages the replay has not brought yet), and the viewport's note changes. */
  private async catchUp(notes: { area: Area; rev: number } | undefined): Promise<void> {
    const cursors = this.client.cursors();
    const threads = Object.keys(this.state.channels).filter((c) => c.startsWith("dm:"));
    const channels = Object.fromEntries(threads.map((c) => [c, cursors[c] ?? this.state.channels[c]?.lastSeq ?? 0]));
    const ok = await this.client.sync(channels, notes);
    for (const c of ok.channels) {
      if (c.messages.length === 0) continue;
      this.updateChannel(c.channel, (v) => ({ ...v, messages: merge(v.messages, c.messages), lastSeq: Math.max(v.lastSeq, c.last_seq) }));
    }
    for (const u of ok.unread) {
      this.updateChannel(u.channel, (c) => ({ ...c, readSeq: u.read_seq, unread: u.unread, lastSeq: Math.max(c.lastSeq, u.last_seq) }));
    }
    const me = this.state.me?.address;
    for (const r of ok.receipts) {
      if (sameAddress(r.address, me)) continue;
      this.updateChannel(r.channel, (c) => ({ ...c, peerReadSeq: Math.max(c.peerReadSeq, r.seq) }));
    }
    if (notes && ok.notes) {
      if (!ok.notes.complete) return this.setViewport(notes.area, true);
      for (const change of ok.notes.changes) this.onNote(change);
      this.notesRev = Math.max(this.notesRev ?? 0, ok.notes.rev);
    }
  }

  private async reload(channel: string): Promise<void> {
    try {
      const page = await this.client.history(channel, { limit: PAGE });
      this.updateChannel(channel, (c) => ({ ...c, messages: page.messages, hasMore: page.has_more }));
    } catch (e) {
      this.notify({ type: "error", error: errorOf(e) });
    }
  }

  private onMessage(channel: string, seq: number, data: MessageData): void {
    const message = { ...data, seq };
    const mine = sameAddress(message.sender, this.state.me?.address);
    const focused = this.focused.has(channel);
    this.updateChannel(channel, (c) => ({
      ...c,
      messages: merge(c.messages, [message]),
      pending: c.pending.filter((p) => p.client_msg_id !== message.client_msg_id),
      lastSeq: Math.max(c.lastSeq, seq),
      unread: !mine && !focused && seq > c.readSeq ? c.unread + 1 : c.unread,
      typing: c.typing.filter((a) => !sameAddress(a, message.sender)),
    }));
    this.typingUntil.get(channel)?.delete(message.sender);
    const direct = channel.startsWith("dm:");
    if (direct) {
      const known = this.state.threads.some((t) => t.channel === channel);
      if (!known) void this.refreshThreads();
      this.patchThread(channel, (t) => ({
        ...t,
        last_seq: Math.max(t.last_seq, seq),
        last_message: message,
        // A message at or below the listed last seq is already counted in `unread`.
        unread: !mine && !focused && seq > t.last_seq ? t.unread + 1 : t.unread,
      }));
      this.patch({ threads: [...this.state.threads].sort((a, b) => threadTime(b) - threadTime(a)) });
    }
    if (focused) void this.markRead(channel);
    if (!mine) this.notify({ type: "message", channel, message, direct });
  }

  private onPush(push: PushFrame): void {
    switch (push.push) {
      case "dm_started":
        if (!this.holders.has(push.channel)) this.holders.set(push.channel, 1);
        // The first message is usually stored before the subscription: it comes with the
        // history, and is announced from there.
        if (!this.state.channels[push.channel]) void this.follow(push.channel, true);
        void this.refreshThreads();
        return;
      case "typing":
        this.onTyping(push.channel, push.data.address, push.data.expires_in_ms);
        return;
      case "read": {
        const { address, seq } = push.data;
        if (sameAddress(address, this.state.me?.address)) {
          this.updateChannel(push.channel, (c) => ({ ...c, readSeq: Math.max(c.readSeq, seq), unread: seq >= c.lastSeq ? 0 : c.unread }));
          this.patchThread(push.channel, (t) => ({ ...t, read_seq: Math.max(t.read_seq, seq), unread: seq >= t.last_seq ? 0 : t.unread }));
        } else {
          this.updateChannel(push.channel, (c) => ({ ...c, peerReadSeq: Math.max(c.peerReadSeq, seq) }));
        }
        return;
      }
      case "presence_change": {
        const { joined, left, count } = push.data;
        this.updateChannel(push.channel, (c) => {
          const members = (c.presence?.members ?? []).filter((m) => !left.some((l) => sameAddress(l, m)));
          for (const j of joined) if (!members.some((m) => sameAddress(m, j))) members.push(j);
          return { ...c, presence: { count, members: members.sort(), complete: c.presence?.complete ?? true } };
        });
        return;
      }
      case "permission_revoked":
        this.updateChannel(push.channel, (c) => ({ ...c, error: { code: "forbidden", message: push.data.reason } }));
        this.notify({ type: "revoked", channel: push.channel, reason: push.data.reason });
        void this.client.me().then((me) => this.patch({ me }), () => {});
        return;
      case "notes_revoked": {
        const me = this.state.me?.address;
        const notes = Object.values(this.state.notes).filter((n) => n.group !== push.data.group || sameAddress(n.author, me));
        this.patch({ notes: byId(notes) });
        this.notify({ type: "revoked", channel: null, reason: push.data.reason });
        void this.client.me().then((me) => this.patch({ me }), () => {});
        return;
      }
      case "note":
        this.onNote(push.data);
        return;
      case "entity":
        this.onEntity(push.data);
        return;
      case "feed_reset":
        this.patch({ entities: {} });
        return;
      case "message_removed": {
        // A moderator removed it: it stays in its place, without its text.
        const seq = push.data.seq;
        this.updateChannel(push.channel, (c) => ({
          ...c,
          messages: c.messages.map((m) => (m.seq === seq ? { ...m, body: "", deleted: true } : m)),
        }));
        return;
      }
      default:
        return;
    }
  }

  private onTyping(channel: string, address: string, ms: number): void {
    if (sameAddress(address, this.state.me?.address)) return;
    let until = this.typingUntil.get(channel);
    if (!until) this.typingUntil.set(channel, (until = new Map()));
    until.set(address, Date.now() + ms);
    this.publishTyping(channel);
    this.typingTimer ??= setInterval(() => this.expireTyping(), 500);
  }

  private expireTyping(): void {
    const now = Date.now();
    for (const [channel, until] of this.typingUntil) {
      let changed = false;
      for (const [a, t] of until) if (t <= now) changed = until.delete(a) || changed;
      if (changed) this.publishTyping(channel);
      if (until.size === 0) this.typingUntil.delete(channel);
    }
    if (this.typingUntil.size === 0 && this.typingTimer) {
      clearInterval(this.typingTimer);
      this.typingTimer = null;
    }
  }

  private publishTyping(channel: string): void {
    const typing = [...(this.typingUntil.get(channel)?.keys() ?? [])].sort();
    this.updateChannel(channel, (c) => ({ ...c, typing }));
  }

  private onNote(e: NoteEvent): void {
    if (this.notesRev !== null) this.notesRev = Math.max(this.notesRev, e.rev);
    if (e.note && (e.event === "created" || e.event === "edited")) this.upsertNote(e.note);
    else if (this.state.notes[e.id]) this.patch({ notes: without(this.state.notes, e.id) });
  }

  private upsertNote(note: NoteData): void {
    if (!inside(this.state.viewport, note.x, note.y)) return;
    this.learnNames([note.author]);
    this.patch({ notes: { ...this.state.notes, [note.id]: note } });
  }

  private onEntity(u: EntityUpdate): void {
    const key = `${u.model}/${u.entity}`;
    const viewport = this.state.viewport;
    const tile = u.tile;
    const mine = sameAddress(u.owner, this.state.me?.address);
    if (u.deleted || !tile || (!inside(viewport, tile.x, tile.y) && !mine)) {
      if (this.state.entities[key]) this.patch({ entities: without(this.state.entities, key) });
      return;
    }
    const entity: MapEntity = {
      key,
      model: u.model,
      entity: u.entity,
      keys: u.keys,
      x: tile.x,
      y: tile.y,
      owner: u.owner ?? this.state.entities[key]?.owner ?? null,
      from: u.previous_tile ?? null,
      updatedAt: Date.now(),
    };
    this.patch({ entities: { ...this.state.entities, [key]: entity } });
  }

  private updateChannel(channel: string, f: (c: ChannelView) => ChannelView): void {
    const current = this.state.channels[channel];
    if (!current) return;
    const next = f(current);
    if (next.messages !== current.messages) this.learnNames(next.messages.map((m) => m.sender));
    this.patch({ channels: { ...this.state.channels, [channel]: next } });
  }

  private patchThread(channel: string, f: (t: ThreadItem) => ThreadItem): void {
    if (!this.state.threads.some((t) => t.channel === channel)) return;
    this.patch({ threads: this.state.threads.map((t) => (t.channel === channel ? f(t) : t)) });
  }

  /** Asks for the names of these addresses, once each, batched. */
  private learnNames(addresses: Iterable<string>): void {
    for (const a of addresses) {
      const key = canonical(a);
      if (this.namesAsked.has(key)) continue;
      this.namesAsked.add(key);
      this.namesWanted.add(key);
    }
    if (this.namesWanted.size === 0 || this.namesTimer) return;
    this.namesTimer = setTimeout(() => {
      this.namesTimer = null;
      const batch = [...this.namesWanted].slice(0, 100);
      for (const a of batch) this.namesWanted.delete(a);
      this.client.names(batch).then(
        (names) => {
          if (Object.keys(names).length > 0) this.patch({ names: { ...this.state.names, ...names } });
        },
        () => {
          // Asked again the next time they show up.
          for (const a of batch) this.namesAsked.delete(a);
        },
      );
      if (this.namesWanted.size > 0) this.learnNames([]);
    }, 50);
  }

  private patch(p: Partial<StoreState>): void {
    this.state = { ...this.state, ...p };
    for (const l of this.listeners) l();
  }

  private notify(n: Notice): void {
    if (n.type === "message") {
      // A message can arrive twice (pushed, and in the page loaded alongside): once is news.
      const key = `${n.channel}#${n.message.seq}`;
      if (this.announced.has(key)) return;
      if (this.announced.size > 1000) this.announced.clear();
      this.announced.add(key);
    }
    for (const l of this.noticeListeners) l(n);
  }
}
