// React bindings over the store: a provider holding one `RealtimeStore` per client, and hooks
// that open what they show (a channel, a thread, a viewport) while mounted and re-render only
// when their part of the store changes. A separate entry point (`@torii-realtime/client/react`)
// so the core stays free of any framework.

import {
  type ReactNode,
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
} from "react";

import type { RealtimeClient } from "./client.ts";
import { type Area, type GroupRef, type NoteData, type PresenceSnapshot, type ThreadItem, threadChannel } from "./protocol.ts";
import { canonical } from "./store-state.ts";
import { type ChannelView, type MapEntity, type Notice, RealtimeStore, type StoreState } from "./store.ts";

const StoreContext = createContext<RealtimeStore | null>(null);

/** Makes `client` (started by the caller) available to the hooks below it. */
export function RealtimeProvider(props: { client: RealtimeClient; children?: ReactNode }): ReactNode {
  const store = useMemo(() => new RealtimeStore(props.client), [props.client]);
  useEffect(() => () => store.dispose(), [store]);
  return createElement(StoreContext.Provider, { value: store }, props.children);
}

export function useRealtimeStore(): RealtimeStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error("wrap the tree in <RealtimeProvider client={...}>");
  return store;
}

/** A part of the store's state; `select` must return a part of the state, not a new object. */
export function useRealtime<T>(select: (s: StoreState) => T): T {
  const store = useRealtimeStore();
  return useSyncExternalStore(store.subscribe, () => select(store.getState()));
}

export interface ChannelHook {
  view: ChannelView | null;
  send: (body: string) => Promise<void>;
  loadOlder: () => Promise<void>;
  markRead: () => Promise<void>;
  /** Call on keystrokes: sends a typing notice at most every 3 s. */
  typing: () => void;
  dismiss: (clientMsgId: string) => void;
}

/** Follows `channel` (none when null) while mounted. With `focused`, it is kept read. */
export function useChannel(channel: string | null, options: { presence?: boolean; focused?: boolean } = {}): ChannelHook {
  const store = useRealtimeStore();
  const { presence = false, focused = false } = options;
  useEffect(() => (channel ? store.open(channel, { presence }) : undefined), [store, channel, presence]);
  useEffect(() => {
    if (!channel || !focused) return;
    store.focus(channel, true);
    return () => store.focus(channel, false);
  }, [store, channel, focused]);
  const view = useRealtime((s) => (channel ? (s.channels[channel] ?? null) : null));
  return useMemo(
    () => ({
      view,
      send: (body: string) => (channel ? store.send(channel, body) : Promise.resolve()),
      loadOlder: () => (channel ? store.loadOlder(channel) : Promise.resolve()),
      markRead: () => (channel ? store.markRead(channel) : Promise.resolve()),
      typing: () => channel && store.typing(channel),
      dismiss: (id: string) => channel && store.dismiss(channel, id),
    }),
    [store, channel, view],
  );
}

/** The world channel (or another public one), with presence. */
export function useWorldChat(channel = "world", options: { focused?: boolean } = {}): ChannelHook {
  return useChannel(channel, { presence: true, ...options });
}

/** The channel of this address's group of `kind` on chain (none while it has none). */
export function useGroupChat(kind = "guild", options: { focused?: boolean } = {}): ChannelHook & { group: GroupRef | null } {
  const group = useRealtime((s) => s.me?.groups.find((g) => g.kind === kind) ?? null);
  const hook = useChannel(group?.channel ?? null, { presence: true, ...options });
  return useMemo(() => ({ ...hook, group }), [hook, group]);
}

/** The thread list, and with `peer` the thread with that address. */
export function useDirectMessages(peer: string | null = null, options: { focused?: boolean } = {}): ChannelHook & {
  threads: ThreadItem[];
  channel: string | null;
  unread: number;
} {
  const me = useRealtime((s) => s.me?.address ?? null);
  const threads = useRealtime((s) => s.threads);
  const channel = me && peer ? threadChannel(me, peer) : null;
  const hook = useChannel(channel, { presence: true, ...options });
  const unread = useMemo(() => threads.reduce((n, t) => n + t.unread, 0), [threads]);
  return useMemo(() => ({ ...hook, threads, channel, unread }), [hook, threads, channel, unread]);
}

/** Sets the viewport of the map feed (shared by `useNotes` and `useMapFeed`). */
function useViewport(viewport: Area | null): void {
  const store = useRealtimeStore();
  const key = viewport ? `${viewport.min_x},${viewport.min_y},${viewport.max_x},${viewport.max_y}` : "";
  // Keyed by value: a caller may build a new but equal area on every render.
  useEffect(() => void store.setViewport(viewport), [store, key]);
}

/** The notes this address may see in `viewport`, live, and a way to pin one. */
export function useNotes(viewport: Area | null): { notes: NoteData[]; pin: RealtimeStore["pinNote"] } {
  const store = useRealtimeStore();
  useViewport(viewport);
  const notes = useRealtime((s) => s.notes);
  const list = useMemo(() => Object.values(notes).sort((a, b) => b.id - a.id), [notes]);
  const pin = useCallback((n: Parameters<RealtimeStore["pinNote"]>[0]) => store.pinNote(n), [store]);
  return { notes: list, pin };
}

/** The units and structures updated in `viewport` (and this address's own), live. */
export function useMapFeed(viewport: Area | null): MapEntity[] {
  useViewport(viewport);
  const entities = useRealtime((s) => s.entities);
  return useMemo(() => Object.values(entities), [entities]);
}

/** Who is present in `channel`. */
export function usePresence(channel: string | null): PresenceSnapshot | null {
  return useChannel(channel, { presence: true }).view?.presence ?? null;
}

/** Who is typing in `channel`, and the function to call on this address's keystrokes. */
export function useTyping(channel: string | null): { typing: string[]; notify: () => void } {
  const hook = useChannel(channel);
  return { typing: hook.view?.typing ?? [], notify: hook.typing };
}

/** The `[players] name` of `address`, once known (asked for as messages, notes and threads
 * show it). */
export function useName(address: string | null | undefined): string | null {
  const key = address ? canonical(address) : "";
  return useRealtime((s) => (key ? (s.names[key] ?? null) : null));
}

/** Unread counts of the followed channels and threads, and their total. */
export function useUnread(): { total: number; byChannel: Record<string, number> } {
  const channels = useRealtime((s) => s.channels);
  return useMemo(() => {
    const byChannel: Record<string, number> = {};
    let total = 0;
    for (const c of Object.values(channels)) {
      byChannel[c.channel] = c.unread;
      total += c.unread;
    }
    return { total, byChannel };
  }, [channels]);
}

/** Calls `listener` for each notice (a message from someone else, a revocation, an error). */
export function useNotices(listener: (n: Notice) => void): void {
  const store = useRealtimeStore();
  const [current] = useState(() => ({ listener }));
  current.listener = listener;
  useEffect(() => store.onNotice((n) => current.listener(n)), [store, current]);
}

export type { ChannelView, MapEntity, Notice, StoreState } from "./store.ts";
