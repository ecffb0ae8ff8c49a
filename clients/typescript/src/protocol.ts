// The frames of torii-realtime protocol v1 (docs/protocol.md, docs/protocol.schema.json),
// as TypeScript types. A test checks that every op of the schema is one of `OPS`.

/** Error codes; a code, once released, keeps its meaning. */
export type ErrorCode =
  | "bad_request"
  | "unknown_op"
  | "too_large"
  | "invalid_channel"
  | "empty_message"
  | "message_too_long"
  | "invalid_text"
  | "unauthorized"
  | "token_expired"
  | "invalid_signature"
  | "invalid_nonce"
  | "account_not_deployed"
  | "forbidden"
  | "blocked"
  | "not_found"
  | "already_subscribed"
  | "not_subscribed"
  | "too_many_subscriptions"
  | "too_many_connections"
  | "rate_limited"
  | "conflict"
  | "unavailable"
  | "internal";

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retry_after_ms?: number;
}

/** A message as pushed (`seq` is on the push) or paged (`seq` inside). */
export interface MessageData {
  seq?: number;
  sender: string;
  body: string;
  ts: string;
  client_msg_id?: string;
  edited_at?: string;
  deleted?: boolean;
}

export interface Connected {
  address: string;
  expires_at: string;
  protocol: number;
  limits: {
    max_frame_bytes: number;
    max_message_chars: number;
    max_subscriptions: number;
    history_max_limit: number;
  };
}

export interface PresenceSnapshot {
  count: number;
  members: string[];
  complete: boolean;
}

export interface SubscribeOk {
  channel: string;
  last_seq: number;
  recovered?: boolean;
  replayed: number;
  presence?: PresenceSnapshot;
}

export interface PublishOk {
  channel: string;
  seq: number;
  ts: string;
  duplicate: boolean;
}

export interface HistoryPage {
  channel: string;
  messages: MessageData[];
  has_more: boolean;
}

export interface RefreshOk {
  address: string;
  expires_at: string;
}

/** A push: `{push, channel?, seq?, data}`. */
export interface PushFrame {
  push: string;
  channel?: string;
  seq?: number;
  data: unknown;
}

/** Every op of protocol v1. */
export const OPS = [
  "auth",
  "refresh",
  "subscribe",
  "unsubscribe",
  "typing",
  "publish",
  "history",
  "watch",
  "threads",
  "block",
  "unblock",
  "blocks",
  "read",
  "unread",
  "presence",
  "sync",
  "notes",
  "note_create",
  "note_edit",
  "note_delete",
  "ping",
] as const;

export type Op = (typeof OPS)[number];

/** Close codes after which reconnecting cannot help. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([4426, 4429, 1002, 1007, 1009]);
/** Close codes that mean "get a new token first". */
export const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4402]);

export interface Area {
  min_x: number;
  min_y: number;
  max_x: number;
  max_y: number;
}

export interface ThreadItem {
  channel: string;
  peer: string;
  last_seq: number;
  read_seq: number;
  unread: number;
  peer_online: boolean;
  last_message?: MessageData;
}

export interface ThreadsPage {
  threads: ThreadItem[];
  next?: string;
}

export interface UnreadItem {
  channel: string;
  last_seq: number;
  read_seq: number;
  unread: number;
}

export interface NoteData {
  id: number;
  author: string;
  x: number;
  y: number;
  title: string;
  body: string;
  visibility: "public" | "group" | "private";
  group?: string;
  created_at: string;
  updated_at: string;
  expires_at?: string;
  rev: number;
}

export interface NotesPage {
  notes: NoteData[];
  next?: number;
  rev: number;
}

export interface NewNote {
  x: number;
  y: number;
  title: string;
  body?: string;
  visibility?: "public" | "group" | "private";
  group?: string;
  expires_in_secs?: number;
}

export interface SyncOk {
  channels: {
    channel: string;
    last_seq: number;
    recovered: boolean;
    messages: MessageData[];
    error?: ErrorBody;
  }[];
  notes?: { rev: number; complete: boolean; changes: unknown[] };
  unread: UnreadItem[];
  receipts: { channel: string; address: string; seq: number }[];
}

/** The thread channel between two addresses: `dm:LOW:HIGH`, short hex, lower first. */
export function threadChannel(a: string, b: string): string {
  const [x, y] = [BigInt(a), BigInt(b)];
  const [lo, hi] = x < y ? [x, y] : [y, x];
  return `dm:0x${lo.toString(16)}:0x${hi.toString(16)}`;
}
