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
