// The frames of torii-realtime protocol v1 (docs/protocol.md, docs/protocol.schema.json),
// as TypeScript types. They come from src/schema.gen.ts, which `npm run gen:types` generates
// from the schema; what is written here is derived from those types, and src/schema.check.ts
// fails the type check when any of it drifts from the schema.

import type { ClientFrame, PushFrame } from "./schema.gen.ts";

export type {
  Area,
  BlockList,
  BlockOk,
  Blocked,
  ChannelSync,
  ClientFrame,
  Connected,
  DmStarted,
  Empty,
  EntityUpdate,
  ErrorBody,
  ErrorCode,
  ErrorFrame,
  FeedReset,
  GroupRef,
  HistoryPage,
  Limits,
  MeOk,
  NamesOk,
  MessageData,
  NoteData,
  NoteDeleted,
  NoteEvent,
  NoteEventKind,
  NoteOk,
  NotRecovered,
  NotesCursor,
  NotesPage,
  NotesRevoked,
  NotesSync,
  OkFrame,
  OkPayload,
  PermissionRevoked,
  PresenceChange,
  PresenceSnapshot,
  PublishOk,
  PushFrame,
  ReadMark,
  MessageRemoved,
  ReadOk,
  Receipt,
  ReportOk,
  ReportReason,
  RefreshOk,
  ServerFrame,
  SubscribeOk,
  SyncOk,
  ThreadItem,
  ThreadsPage,
  TileXY,
  TokenExpired,
  Typing,
  TypingOk,
  UnreadItem,
  UnreadList,
  UnsubscribeOk,
  VisibilityName,
  WatchOk,
} from "./schema.gen.ts";

/** The arguments of op `O`: its request frame without `id` and `op`. */
export type RequestArgs<O extends Op> = Omit<Extract<ClientFrame, { op: O }>, "id" | "op">;

/** The name of a push (`message`, `typing`, ...). */
export type PushName = PushFrame["push"];

/** The push named `N`, with its `data` typed. */
export type PushOf<N extends PushName> = Extract<PushFrame, { push: N }>;

/** A note to pin (`pinNote`): the arguments of `note_create`. */
export type NewNote = RequestArgs<"note_create">;

/** Every op of protocol v1; src/schema.check.ts and test/schema.test.ts hold it to the schema. */
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
  "me",
  "names",
  "presence",
  "sync",
  "notes",
  "note_create",
  "note_edit",
  "note_delete",
  "report",
  "ping",
] as const;

export type Op = (typeof OPS)[number];

/** Close codes after which reconnecting cannot help. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([4426, 4429, 1002, 1007, 1009]);
/** Close codes that mean "get a new token first". */
export const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4402]);

/** The thread channel between two addresses: `dm:LOW:HIGH`, short hex, lower first. */
export function threadChannel(a: string, b: string): string {
  const [x, y] = [BigInt(a), BigInt(b)];
  const [lo, hi] = x < y ? [x, y] : [y, x];
  return `dm:0x${lo.toString(16)}:0x${hi.toString(16)}`;
}
