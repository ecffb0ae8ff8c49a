// The store's state and the pure functions that change it, apart from the store that drives
// them (src/store.ts): what a view reads, and how lists merge.

import { ServerError } from "./client.ts";
import type { Area, ErrorBody, MeOk, MessageData, NoteData, PresenceSnapshot, ThreadItem } from "./protocol.ts";

/** A message sent from here and not stored yet (or refused: then `error` says why). */
export interface OutgoingMessage {
  client_msg_id: string;
  body: string;
  error?: ErrorBody;
}

export interface ChannelView {
  channel: string;
  /** Stored messages, oldest first, each with its `seq`. */
  messages: MessageData[];
  pending: OutgoingMessage[];
  /** Whether older messages than the first one exist (`loadOlder`). */
  hasMore: boolean;
  loading: boolean;
  lastSeq: number;
  /** How far this address has read. */
  readSeq: number;
  /** Messages from others after `readSeq` (capped by the server at 1000). */
  unread: number;
  /** In a thread: how far the peer has read (its read receipt). */
  peerReadSeq: number;
  /** Addresses typing now, other than this one. */
  typing: string[];
  /** Who is present, for channels opened with presence. */
  presence: PresenceSnapshot | null;
  /** Why the channel cannot be followed (refused, or revoked on chain). */
  error: ErrorBody | null;
}

/** A unit or structure of the map feed, as the last `entity` push left it. */
export interface MapEntity {
  key: string;
  model: string;
  entity: string;
  keys: Record<string, unknown>;
  x: number;
  y: number;
  owner: string | null;
  /** Where it stood before its last move, if it moved. */
  from: { x: number; y: number } | null;
  updatedAt: number;
}

export interface StoreState {
  status: "connecting" | "connected" | "reconnecting" | "stopped";
  me: MeOk | null;
  channels: Readonly<Record<string, ChannelView>>;
  /** Direct-message threads, newest activity first. */
  threads: ThreadItem[];
  viewport: Area | null;
  notes: Readonly<Record<number, NoteData>>;
  /** Players' names by canonical address, learnt as their messages and notes show up. */
  names: Readonly<Record<string, string>>;
  entities: Readonly<Record<string, MapEntity>>;
}

/** Something a view may want to surface (a toast, a sound). */
export type Notice =
  | { type: "message"; channel: string; message: MessageData; direct: boolean }
  | { type: "revoked"; channel: string | null; reason: string }
  | { type: "error"; error: ErrorBody };

export function emptyChannel(channel: string): ChannelView {
  return {
    channel,
    messages: [],
    pending: [],
    hasMore: false,
    loading: true,
    lastSeq: 0,
    readSeq: 0,
    unread: 0,
    peerReadSeq: 0,
    typing: [],
    presence: null,
    error: null,
  };
}

export function errorOf(e: unknown): ErrorBody {
  if (e instanceof ServerError) return e.body;
  return { code: "unavailable", message: e instanceof Error ? e.message : String(e) };
}

export function inside(a: Area | null, x: number, y: number): boolean {
  return a !== null && x >= a.min_x && x <= a.max_x && y >= a.min_y && y <= a.max_y;
}

/** Short addresses compare equal whatever their zero padding. */
export function sameAddress(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return a === b;
  }
}

/** Both lists' messages, one per seq, oldest first. */
export function merge(a: MessageData[], b: MessageData[]): MessageData[] {
  const bySeq = new Map<number, MessageData>();
  for (const m of [...a, ...b]) if (m.seq != null) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((x, y) => (x.seq ?? 0) - (y.seq ?? 0));
}

export function sameArea(a: Area | null, b: Area | null): boolean {
  if (a === null || b === null) return a === b;
  return a.min_x === b.min_x && a.min_y === b.min_y && a.max_x === b.max_x && a.max_y === b.max_y;
}

export function threadTime(t: ThreadItem): number {
  return t.last_message ? Date.parse(t.last_message.ts) : 0;
}

export function byId(notes: NoteData[]): Record<number, NoteData> {
  return Object.fromEntries(notes.map((n) => [n.id, n]));
}

export function without<K extends string | number, V>(r: Readonly<Record<K, V>>, key: K): Record<K, V> {
  const copy = { ...r } as Record<K, V>;
  delete copy[key];
  return copy;
}

export function keepInside(entities: Readonly<Record<string, MapEntity>>, area: Area | null): Record<string, MapEntity> {
  return Object.fromEntries(Object.entries(entities).filter(([, e]) => inside(area, e.x, e.y)));
}

/** `0x` and 64 lower-case hex digits, as the server writes addresses. */
export function canonical(address: string): string {
  try {
    return `0x${BigInt(address).toString(16).padStart(64, "0")}`;
  } catch {
    return address;
  }
}
