// Direct messages: the thread list with unread badges and online dots, a way to write to a
// new address, and the open thread with its read receipt.
import { useState } from "react";

import { useDirectMessages } from "../src/react.ts";
import { ChatView, Name } from "./chat.tsx";

export function DirectMessages(props: { peer: string | null; onPeer: (p: string | null) => void }) {
  const dm = useDirectMessages(props.peer, { focused: props.peer !== null });
  const [to, setTo] = useState("");
  if (props.peer)
    return (
      <div className="thread">
        <button className="link" data-testid="back" onClick={() => props.onPeer(null)}>
          ← threads
        </button>
        <ChatView hook={dm} title={<Name address={props.peer} />} peerRead />
      </div>
    );
  return (
    <div className="threads">
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          const peer = to.trim();
          if (/^0x[0-9a-fA-F]{1,64}$/.test(peer)) props.onPeer(peer);
        }}
      >
        <input data-testid="dm-to" value={to} onChange={(e) => setTo(e.target.value)} placeholder="Write to 0x…" />
        <button data-testid="dm-open">Open</button>
      </form>
      {dm.threads.length === 0 && <p className="empty">No conversations yet.</p>}
      <ul>
        {dm.threads.map((t) => (
          <li key={t.channel}>
            <button className="thread-item" data-testid="thread" onClick={() => props.onPeer(t.peer)}>
              <span className={`dot ${t.peer_online ? "online" : ""}`} />
              <strong>
                <Name address={t.peer} />
              </strong>
              <span className="muted preview">{t.last_message?.body ?? ""}</span>
              {t.unread > 0 && (
                <span className="badge" data-testid="thread-unread">
                  {t.unread}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
