// Notes in the viewport, and the composer for the selected tile.
import { useState } from "react";

import { type Area, ServerError } from "../src/index.ts";
import { useNotes } from "../src/react.ts";
import { Name } from "./chat.tsx";
import type { Tile } from "./map.tsx";

type Visibility = "public" | "group" | "private";

export function NotesPanel(props: { viewport: Area; selected: Tile | null }) {
  const { notes, pin } = useNotes(props.viewport);
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("public");
  const [error, setError] = useState<string | null>(null);
  const tile = props.selected;
  return (
    <div className="notes">
      {tile ? (
        <form
          className="note-form"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              // A group note names the kind of group: the server picks the author's own.
              const group = visibility === "group" ? { group: "guild" } : {};
              await pin({ x: tile.x, y: tile.y, title: title.trim(), body: body.trim(), visibility, ...group });
              setTitle("");
              setBody("");
            } catch (err) {
              setError(err instanceof ServerError ? err.body.message : String(err));
            }
          }}
        >
          <strong>
            Pin a note at ({tile.x}, {tile.y})
          </strong>
          <input data-testid="note-title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Title" maxLength={120} />
          <textarea data-testid="note-body" value={body} onChange={(e) => setBody(e.target.value)} placeholder="Details" rows={2} />
          <select data-testid="note-visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)}>
            <option value="public">Everyone</option>
            <option value="group">My guild</option>
            <option value="private">Only me</option>
          </select>
          <button data-testid="note-pin" disabled={!title.trim()}>
            Pin
          </button>
          {error && (
            <p className="error" data-testid="note-error">
              {error}
            </p>
          )}
        </form>
      ) : (
        <p className="empty">Select a tile on the map to pin a note.</p>
      )}
      <ul>
        {notes.map((n) => (
          <li key={n.id} data-testid="note">
            <strong>{n.title}</strong> <span className="muted">
              ({n.x}, {n.y}) · {n.visibility} · <Name address={n.author} />
            </span>
            {n.body && <p>{n.body}</p>}
          </li>
        ))}
      </ul>
    </div>
  );
}
