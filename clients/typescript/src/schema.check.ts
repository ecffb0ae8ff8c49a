// Compile-time checks, no runtime code: `tsc --noEmit` fails here when a public type of
// src/protocol.ts is not the type the schema defines (src/schema.gen.ts, `npm run gen:types`).
// Most of them are re-exports, checked so that one replaced by a hand-written type cannot
// drift unnoticed; the rest are derived or listed by hand. A failing line names the type: make
// it match the schema (regenerate first if the schema changed); never edit the generated file.
// Nothing imports this file.

import type * as P from "./protocol.ts";
import type * as G from "./schema.gen.ts";

/**
 * True only when A and B are the same type. Mutual assignability is not enough: it misses an
 * optional property on one side only, and `any`.
 */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Check<T extends true> = T;

export type ProtocolChecks = [
  // Requests.
  Check<Same<P.ClientFrame, G.ClientFrame>>,
  Check<Same<P.Op, G.ClientFrame["op"]>>,
  Check<Same<P.NewNote, Omit<G.NoteCreateClientFrame, "id" | "op">>>,
  Check<Same<P.RequestArgs<"subscribe">, Omit<G.SubscribeClientFrame, "id" | "op">>>,
  Check<Same<P.NotesCursor, G.NotesCursor>>,
  Check<Same<P.Area, G.Area>>,
  Check<Same<P.VisibilityName, G.VisibilityName>>,

  // Replies.
  Check<Same<P.ServerFrame, G.ServerFrame>>,
  Check<Same<P.OkFrame, G.OkFrame>>,
  Check<Same<P.OkPayload, G.OkPayload>>,
  Check<Same<P.ErrorFrame, G.ErrorFrame>>,
  Check<Same<P.ErrorBody, G.ErrorBody>>,
  Check<Same<P.ErrorCode, G.ErrorCode>>,
  Check<Same<P.Connected, G.Connected>>,
  Check<Same<P.Limits, G.Limits>>,
  Check<Same<P.RefreshOk, G.RefreshOk>>,
  Check<Same<P.SubscribeOk, G.SubscribeOk>>,
  Check<Same<P.UnsubscribeOk, G.UnsubscribeOk>>,
  Check<Same<P.PublishOk, G.PublishOk>>,
  Check<Same<P.HistoryPage, G.HistoryPage>>,
  Check<Same<P.MessageData, G.MessageData>>,
  Check<Same<P.TypingOk, G.TypingOk>>,
  Check<Same<P.WatchOk, G.WatchOk>>,
  Check<Same<P.ThreadsPage, G.ThreadsPage>>,
  Check<Same<P.ThreadItem, G.ThreadItem>>,
  Check<Same<P.BlockOk, G.BlockOk>>,
  Check<Same<P.BlockList, G.BlockList>>,
  Check<Same<P.Blocked, G.Blocked>>,
  Check<Same<P.ReadOk, G.ReadOk>>,
  Check<Same<P.UnreadList, G.UnreadList>>,
  Check<Same<P.UnreadItem, G.UnreadItem>>,
  Check<Same<P.MeOk, G.MeOk>>,
  Check<Same<P.GroupRef, G.GroupRef>>,
  Check<Same<P.PresenceSnapshot, G.PresenceSnapshot>>,
  Check<Same<P.SyncOk, G.SyncOk>>,
  Check<Same<P.ChannelSync, G.ChannelSync>>,
  Check<Same<P.Receipt, G.Receipt>>,
  Check<Same<P.NotesSync, G.NotesSync>>,
  Check<Same<P.NotesPage, G.NotesPage>>,
  Check<Same<P.NoteData, G.NoteData>>,
  Check<Same<P.NoteOk, G.NoteOk>>,
  Check<Same<P.NoteDeleted, G.NoteDeleted>>,
  Check<Same<P.Empty, G.Empty>>,

  // Pushes.
  Check<Same<P.PushFrame, G.PushFrame>>,
  Check<Same<P.PushName, G.PushFrame["push"]>>,
  Check<Same<P.PushOf<"message">, G.MessagePushFrame>>,
  Check<Same<P.TokenExpired, G.TokenExpired>>,
  Check<Same<P.PermissionRevoked, G.PermissionRevoked>>,
  Check<Same<P.EntityUpdate, G.EntityUpdate>>,
  Check<Same<P.TileXY, G.TileXY>>,
  Check<Same<P.FeedReset, G.FeedReset>>,
  Check<Same<P.Typing, G.Typing>>,
  Check<Same<P.DmStarted, G.DmStarted>>,
  Check<Same<P.ReadMark, G.ReadMark>>,
  Check<Same<P.PresenceChange, G.PresenceChange>>,
  Check<Same<P.NoteEvent, G.NoteEvent>>,
  Check<Same<P.NoteEventKind, G.NoteEventKind>>,
  Check<Same<P.NotesRevoked, G.NotesRevoked>>,
];
