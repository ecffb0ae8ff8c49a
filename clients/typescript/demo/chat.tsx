// A channel's messages (stored, then pending ones), who is typing and present, and a composer.
import { type ReactNode, useState } from "react";

import { type ChannelHook, useName, useRealtime } from "../src/react.ts";
import { sameAddress } from "../src/store.ts";

/** `0x1234…abcd`. */
export function short(address: string): string {
  const hex = address.startsWith("0x") ? `0x${BigInt(address).toString(16)}` : address;
  return hex.length > 12 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex;
}

/** A player's name once known, its short address until then. */
export function Name(props: { address: string }) {
  const name = useName(props.address);
  return <>{name ?? short(props.address)}</>;
}

export function ChatView(props: { hook: ChannelHook; title: ReactNode; peerRead?: boolean }) {
  const { view, send, loadOlder, typing, dismiss } = props.hook;
  const me = useRealtime((s) => s.me?.address ?? null);
  const [text, setText] = useState("");
  if (!view) return <p className="empty">Connecting…</p>;
  const lastMine = [...view.messages].reverse().find((m) => sameAddress(m.sender, me));
  return (
    <div className="chat" data-testid={`chat-${view.channel}`}>
      <div className="chat-head">
        <span>{props.title}</span>
        {view.presence && (
          <span className="muted" data-testid="presence">
            {view.presence.count} online
          </span>
        )}
      </div>
      {view.error && (
        <p className="error" data-testid="chat-error">
          {view.error.message}
        </p>
      )}
      <ol className="messages">
        {view.hasMore && (
          <li>
            <button className="link" onClick={() => void loadOlder()}>
              Older messages
            </button>
          </li>
        )}
        {view.messages.map((m) => (
          <li key={m.seq} className={sameAddress(m.sender, me) ? "mine" : ""} data-testid="message">
            <span className="sender">{sameAddress(m.sender, me) ? "you" : <Name address={m.sender} />}</span>{" "}
            <span className="body">{m.body}</span>
          </li>
        ))}
        {view.pending.map((p) => (
          <li key={p.client_msg_id} className={`mine pending${p.error ? " failed" : ""}`} data-testid="pending">
            <span className="body">{p.body}</span>{" "}
            {p.error ? (
              <>
                <span className="error">{p.error.message}</span>{" "}
                <button className="link" onClick={() => dismiss(p.client_msg_id)}>
                  dismiss
                </button>
              </>
            ) : (
              <span className="muted">sending…</span>
            )}
          </li>
        ))}
      </ol>
      {props.peerRead && lastMine?.seq != null && view.peerReadSeq >= lastMine.seq && (
        <p className="muted receipt" data-testid="seen">
          Seen
        </p>
      )}
      <p className="typing" data-testid="typing">
        {view.typing.length > 0 ? (
          <>
            {view.typing.map((a, i) => (
              <span key={a}>
                {i > 0 && ", "}
                <Name address={a} />
              </span>
            ))}{" "}
            typing…
          </>
        ) : (
          " "
        )}
      </p>
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          const body = text.trim();
          if (!body) return;
          setText("");
          void send(body);
        }}
      >
        <input
          data-testid="composer"
          value={text}
          placeholder={view.error ? "You cannot write here" : "Message"}
          disabled={view.error !== null}
          onChange={(e) => {
            setText(e.target.value);
            typing();
          }}
        />
        <button data-testid="send" disabled={view.error !== null}>
          Send
        </button>
      </form>
    </div>
  );
}
