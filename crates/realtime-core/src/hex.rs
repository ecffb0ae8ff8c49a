//! The hex map: tiles are (col, row) in an "even-r" offset layout (even rows shifted right).
//! Distance converts to cube coordinates: q = col − (row + (row & 1)) / 2, r = row,
//! s = −q − r; distance = max(|dq|, |dr|, |ds|).

/// A tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
}

impl Tile {
    pub fn new(x: u32, y: u32) -> Self {
        Self { x, y }
    }

    fn cube(self) -> (i64, i64, i64) {
        let col = i64::from(self.x);
        let row = i64::from(self.y);
        let q = col - (row + (row & 1)) / 2;
        let r = row;
        (q, r, -q - r)
    }

    /// Steps between two tiles on the hex grid.
    pub fn distance(self, other: Tile) -> u64 {
        let (q1, r1, s1) = self.cube();
        let (q2, r2, s2) = other.cube();
        (q1 - q2)
            .unsigned_abs()
            .max((r1 - r2).unsigned_abs())
            .max((s1 - s2).unsigned_abs())
    }

    /// The six neighbours (even rows and odd rows differ in even-r layout).
    pub fn neighbours(self) -> [Tile; 6] {
        let (x, y) = (i64::from(self.x), i64::from(self.y));
        let d: [(i64, i64); 6] = if y % 2 == 0 {
            [(1, 0), (1, 1), (0, 1), (-1, 0), (0, -1), (1, -1)]
        } else {
            [(1, 0), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1)]
        };
        d.map(|(dx, dy)| {
            Tile::new(
                u32::try_from(x + dx).unwrap_or(0),
                u32::try_from(y + dy).unwrap_or(0),
            )
        })
    }
}

/// An inclusive tile rectangle (a map viewport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub min_x: u32,
    pub min_y: u32,
    pub max_x: u32,
    pub max_y: u32,
}

impl Rect {
    pub fn contains(&self, t: Tile) -> bool {
        (self.min_x..=self.max_x).contains(&t.x) && (self.min_y..=self.max_y).contains(&t.y)
    }

    /// Tiles covered (for size limits).
    pub fn area(&self) -> u64 {
        (u64::from(self.max_x - self.min_x) + 1) * (u64::from(self.max_y - self.min_y) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_neighbour_is_one_step_away() {
        let c = 2_147_483_646u32;
        for centre in [
            Tile::new(c, c),
            Tile::new(c, c + 1),
            Tile::new(10, 11),
            Tile::new(10, 10),
        ] {
            for n in centre.neighbours() {
                assert_eq!(centre.distance(n), 1, "{centre:?} → {n:?}");
            }
            assert_eq!(centre.distance(centre), 0);
        }
    }

    #[test]
    fn distances_along_rows_and_diagonals() {
        assert_eq!(Tile::new(0, 0).distance(Tile::new(5, 0)), 5);
        assert_eq!(Tile::new(10, 10).distance(Tile::new(10, 14)), 4);
        // Two steps down-right from an even row.
        assert_eq!(Tile::new(10, 10).distance(Tile::new(11, 12)), 2);
        // Blitz realm spots: 15 apart along a row.
        assert_eq!(Tile::new(100, 50).distance(Tile::new(115, 50)), 15);
    }
}
