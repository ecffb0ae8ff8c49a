// The viewport as a hex grid (pointy-top, odd rows shifted right, as Eternum draws it):
// notes as pins, units and structures from the live feed, one's own in another colour.
// Click a tile to pin a note there; the arrows pan.
import { useMemo } from "react";

import type { Area } from "../src/index.ts";
import { useMapFeed, useNotes, useRealtime } from "../src/react.ts";
import { sameAddress } from "../src/store.ts";

export interface Tile {
  x: number;
  y: number;
}

const SIZE = 18;
const W = Math.sqrt(3) * SIZE;

function centreOf(x: number, y: number, area: Area): [number, number] {
  const col = x - area.min_x;
  const row = y - area.min_y;
  return [W * (col + (y & 1 ? 0.5 : 0)) + W / 2 + 4, SIZE * 1.5 * row + SIZE + 4];
}

function hexPoints(cx: number, cy: number): string {
  return [30, 90, 150, 210, 270, 330]
    .map((deg) => {
      const a = (Math.PI / 180) * deg;
      return `${(cx + SIZE * Math.cos(a)).toFixed(1)},${(cy + SIZE * Math.sin(a)).toFixed(1)}`;
    })
    .join(" ");
}

export function HexMap(props: {
  viewport: Area;
  centre: Tile;
  selected: Tile | null;
  onSelect: (t: Tile) => void;
  onPan: (t: Tile) => void;
}) {
  const { viewport: area } = props;
  const { notes } = useNotes(area);
  const entities = useMapFeed(area);
  const me = useRealtime((s) => s.me?.address ?? null);
  const tiles = useMemo(() => {
    const out: Tile[] = [];
    for (let y = area.min_y; y <= area.max_y; y++) for (let x = area.min_x; x <= area.max_x; x++) out.push({ x, y });
    return out;
  }, [area]);
  const width = W * (area.max_x - area.min_x + 1.5) + 8;
  const height = SIZE * 1.5 * (area.max_y - area.min_y) + SIZE * 2 + 8;
  const pan = (dx: number, dy: number) => props.onPan({ x: Math.max(0, props.centre.x + dx), y: Math.max(0, props.centre.y + dy) });
  return (
    <div className="hexmap">
      <svg viewBox={`0 0 ${width.toFixed(0)} ${height.toFixed(0)}`} role="img" aria-label="map">
        {tiles.map((t) => {
          const [cx, cy] = centreOf(t.x, t.y, area);
          const on = props.selected?.x === t.x && props.selected.y === t.y;
          return (
            <polygon
              key={`${t.x},${t.y}`}
              className={`tile${on ? " selected" : ""}`}
              data-testid={`tile-${t.x}-${t.y}`}
              points={hexPoints(cx, cy)}
              onClick={() => props.onSelect(t)}
            >
              <title>{`(${t.x}, ${t.y})`}</title>
            </polygon>
          );
        })}
        {entities.map((e) => {
          const [cx, cy] = centreOf(e.x, e.y, area);
          const mine = sameAddress(e.owner, me);
          const structure = e.model.endsWith("Structure");
          return (
            <g key={e.key} data-testid={`unit-${e.x}-${e.y}`} data-mine={mine} className={`unit${mine ? " mine" : ""}`}>
              {structure ? <rect x={cx - 7} y={cy - 7} width={14} height={14} rx={2} /> : <circle cx={cx} cy={cy} r={7} />}
              <title>{`${e.model} at (${e.x}, ${e.y})`}</title>
            </g>
          );
        })}
        {notes.map((n) => {
          const [cx, cy] = centreOf(n.x, n.y, area);
          return (
            <g key={n.id} className={`pin ${n.visibility}`} data-testid={`note-pin-${n.x}-${n.y}`}>
              <path d={`M${cx} ${cy + 2} l-6 -10 a7 7 0 1 1 12 0 z`} />
              <title>{n.title}</title>
            </g>
          );
        })}
      </svg>
      <div className="pan">
        <button aria-label="west" onClick={() => pan(-4, 0)}>
          ←
        </button>
        <button aria-label="north" onClick={() => pan(0, -4)}>
          ↑
        </button>
        <button aria-label="south" onClick={() => pan(0, 4)}>
          ↓
        </button>
        <button aria-label="east" onClick={() => pan(4, 0)}>
          →
        </button>
        <span className="muted">
          ({props.centre.x}, {props.centre.y})
        </span>
      </div>
    </div>
  );
}
