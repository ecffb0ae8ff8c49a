// The signed-in demo: a hex map of the viewport with notes and live units, and a panel with
// world chat, guild chat, direct messages and notes; toasts for direct messages,
// announcements and revoked permissions. One column on a phone.
import { useMemo, useState } from "react";

import { type Area, threadChannel } from "../src/index.ts";
import { useDirectMessages, useGroupChat, useNotices, useRealtime, useUnread, useWorldChat } from "../src/react.ts";
import { ChatView, Name, short } from "./chat.tsx";
import { DirectMessages } from "./direct.tsx";
import { HexMap, type Tile } from "./map.tsx";
import { NotesPanel } from "./notes.tsx";

/** Tiles from the centre to the viewport's edge. */
const RADIUS = 6;

type Tab = "world" | "guild" | "dm" | "notes";

interface Toast {
  id: number;
  kind: "dm" | "announcement" | "revoked" | "error";
  text: string;
  /** Who sent it, for a direct message. */
  from?: string;
}

function startCentre(): Tile {
  const q = new URLSearchParams(window.location.search);
  return { x: Number(q.get("x") ?? 100), y: Number(q.get("y") ?? 100) };
}

export function App() {
  const me = useRealtime((s) => s.me);
  const status = useRealtime((s) => s.status);
  const [tab, setTab] = useState<Tab>("world");
  const [centre, setCentre] = useState<Tile>(startCentre);
  const [selected, setSelected] = useState<Tile | null>(null);
  const [peer, setPeer] = useState<string | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const viewport: Area = useMemo(
    () => ({
      min_x: Math.max(0, centre.x - RADIUS),
      min_y: Math.max(0, centre.y - RADIUS),
      max_x: centre.x + RADIUS,
      max_y: centre.y + RADIUS,
    }),
    [centre],
  );

  const world = useWorldChat("world", { focused: tab === "world" });
  const guild = useGroupChat("guild", { focused: tab === "guild" });
  const dms = useDirectMessages(null);
  const unread = useUnread();

  function toast(kind: Toast["kind"], text: string, from?: string) {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t.slice(-3), from ? { id, kind, text, from } : { id, kind, text }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 8000);
  }

  useNotices((n) => {
    if (n.type === "message" && n.message.client_msg_id?.startsWith("ann:")) toast("announcement", n.message.body);
    else if (n.type === "message" && n.direct && !(tab === "dm" && peer && me && n.channel === threadChannel(me.address, peer)))
      toast("dm", n.message.body, n.message.sender);
    else if (n.type === "revoked") toast("revoked", n.reason);
    else if (n.type === "error") toast("error", `${n.error.code}: ${n.error.message}`);
  });

  const badge = (count: number) =>
    count > 0 ? (
      <span className="badge" data-testid="badge">
        {count > 99 ? "99+" : count}
      </span>
    ) : null;

  return (
    <div className="app">
      <header>
        <strong>{me?.name ?? (me ? short(me.address) : "…")}</strong>
        <span className={`status ${status}`} data-testid="status">
          {status}
        </span>
        {me && <span className="muted">{me.player ? "player" : "not a player"}</span>}
        {guild.group && <span className="muted">guild {short(guild.group.id)}</span>}
      </header>
      <section className="map">
        <HexMap viewport={viewport} selected={selected} onSelect={(t) => (setSelected(t), setTab("notes"))} onPan={setCentre} centre={centre} />
      </section>
      <section className="panel">
        <nav>
          <button className={tab === "world" ? "on" : ""} data-testid="tab-world" onClick={() => setTab("world")}>
            World {badge(unread.byChannel.world ?? 0)}
          </button>
          <button className={tab === "guild" ? "on" : ""} data-testid="tab-guild" onClick={() => setTab("guild")}>
            Guild {badge(guild.view?.unread ?? 0)}
          </button>
          <button className={tab === "dm" ? "on" : ""} data-testid="tab-dm" onClick={() => setTab("dm")}>
            DMs {badge(dms.unread)}
          </button>
          <button className={tab === "notes" ? "on" : ""} data-testid="tab-notes" onClick={() => setTab("notes")}>
            Notes
          </button>
        </nav>
        {tab === "world" && <ChatView hook={world} title="World" />}
        {tab === "guild" &&
          (guild.group ? (
            <ChatView hook={guild} title={`Guild ${short(guild.group.id)}`} />
          ) : (
            <p className="empty" data-testid="no-guild">
              Not in a guild on chain.
            </p>
          ))}
        {tab === "dm" && <DirectMessages peer={peer} onPeer={setPeer} />}
        {tab === "notes" && <NotesPanel viewport={viewport} selected={selected} />}
      </section>
      <div className="toasts">
        {toasts.map((t) => (
          <div
            key={t.id}
            className={`toast ${t.kind}`}
            data-testid="toast"
            data-kind={t.kind}
            title="Dismiss"
            onClick={() => setToasts((all) => all.filter((x) => x.id !== t.id))}
          >
            {t.from && (
              <>
                <strong>
                  <Name address={t.from} />
                </strong>
                :{" "}
              </>
            )}
            {t.text}
          </div>
        ))}
      </div>
    </div>
  );
}
