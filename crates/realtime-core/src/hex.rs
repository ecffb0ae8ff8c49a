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

    /// The neighbours on the map: six, fewer on its edges (coordinates stay within `u32`).
    pub fn neighbours(self) -> impl Iterator<Item = Tile> {
        let (x, y) = (i64::from(self.x), i64::from(self.y));
        let d: [(i64, i64); 6] = if y % 2 == 0 {
            [(1, 0), (1, 1), (0, 1), (-1, 0), (0, -1), (1, -1)]
        } else {
            [(1, 0), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1)]
        };
        d.into_iter().filter_map(move |(dx, dy)| {
            Some(Tile::new(
                u32::try_from(x + dx).ok()?,
                u32::try_from(y + dy).ok()?,
            ))
        })
    }
}

/// An inclusive tile rectangle (a map viewport). Built through [`Rect::new`], so a minimum is
/// never above its maximum; every size is computed in 64 bits without overflow, whatever
/// corners a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    min_x: u32,
    min_y: u32,
    max_x: u32,
    max_y: u32,
}

/// Why corners do not make a rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RectError {
    #[error("min_x ({min}) is above max_x ({max})")]
    X { min: u32, max: u32 },
    #[error("min_y ({min}) is above max_y ({max})")]
    Y { min: u32, max: u32 },
}

impl Rect {
    /// The rectangle from `(min_x, min_y)` to `(max_x, max_y)`, both included.
    pub fn new(min_x: u32, min_y: u32, max_x: u32, max_y: u32) -> Result<Self, RectError> {
        if min_x > max_x {
            return Err(RectError::X {
                min: min_x,
                max: max_x,
            });
        }
        if min_y > max_y {
            return Err(RectError::Y {
                min: min_y,
                max: max_y,
            });
        }
        Ok(Self {
            min_x,
            min_y,
            max_x,
            max_y,
        })
    }

    pub fn min(&self) -> Tile {
        Tile::new(self.min_x, self.min_y)
    }

    pub fn max(&self) -> Tile {
        Tile::new(self.max_x, self.max_y)
    }

    pub fn contains(&self, t: Tile) -> bool {
        (self.min_x..=self.max_x).contains(&t.x) && (self.min_y..=self.max_y).contains(&t.y)
    }

    /// Columns covered: 1 to 2^32.
    pub fn width(&self) -> u64 {
        u64::from(self.max_x - self.min_x) + 1
    }

    /// Rows covered: 1 to 2^32.
    pub fn height(&self) -> u64 {
        u64::from(self.max_y - self.min_y) + 1
    }

    /// Tiles covered, for size limits. The whole map (2^64 tiles) saturates at `u64::MAX`.
    pub fn area(&self) -> u64 {
        self.width().saturating_mul(self.height())
    }

    /// Cells of a grid of `side`×`side` tiles that the rectangle touches (saturating, like
    /// [`Rect::area`]); `side` 0 counts as 1.
    pub fn cells(&self, side: u32) -> u64 {
        let side = side.max(1);
        let across = u64::from(self.max_x / side - self.min_x / side) + 1;
        let down = u64::from(self.max_y / side - self.min_y / side) + 1;
        across.saturating_mul(down)
    }

    /// The cells of a `side`×`side` grid the rectangle touches, row by row. Check
    /// [`Rect::cells`] before collecting them: their number follows the client's corners.
    pub fn cell_coords(&self, side: u32) -> impl Iterator<Item = (u32, u32)> + use<> {
        let side = side.max(1);
        let (y0, y1) = (self.min_y / side, self.max_y / side);
        (self.min_x / side..=self.max_x / side)
            .flat_map(move |cx| (y0..=y1).map(move |cy| (cx, cy)))
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
            assert_eq!(centre.neighbours().count(), 6);
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

    #[test]
    fn neighbours_on_the_map_edges_stay_on_the_map() {
        let m = u32::MAX;
        for corner in [
            Tile::new(0, 0),
            Tile::new(m, m),
            Tile::new(m, 0),
            Tile::new(0, m),
            Tile::new(m, m - 1),
        ] {
            let around: Vec<Tile> = corner.neighbours().collect();
            assert!(around.len() < 6, "{corner:?} has fewer neighbours");
            for n in around {
                assert_eq!(corner.distance(n), 1, "{corner:?} → {n:?}");
            }
        }
    }

    #[test]
    fn rectangles_with_a_minimum_above_the_maximum_are_refused() {
        assert_eq!(Rect::new(5, 0, 4, 0), Err(RectError::X { min: 5, max: 4 }));
        assert_eq!(Rect::new(0, 9, 0, 0), Err(RectError::Y { min: 9, max: 0 }));
        assert!(Rect::new(7, 7, 7, 7).is_ok());
    }

    #[test]
    fn sizes_of_the_widest_rectangles_do_not_overflow() {
        let m = u32::MAX;
        let whole = Rect::new(0, 0, m, m).unwrap();
        assert_eq!(whole.width(), 1 << 32);
        assert_eq!(whole.area(), u64::MAX, "2^64 tiles saturate");
        assert_eq!(whole.cells(32), 1 << 54);
        let row = Rect::new(0, 7, m, 7).unwrap();
        assert_eq!(row.area(), 1 << 32);
        assert_eq!(row.cells(32), 1 << 27);
        let column = Rect::new(3, 0, 3, m).unwrap();
        assert_eq!(column.area(), 1 << 32);
        assert_eq!(Rect::new(m, m, m, m).unwrap().area(), 1);
    }

    /// Random corners, biased to the edges of the `u32` range: every size is the exact value
    /// (computed in 128 bits), saturated to `u64`, and the cells listed are the cells counted.
    #[test]
    fn property_sizes_are_exact_for_random_rectangles() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let edges = [
            0,
            1,
            31,
            32,
            33,
            1 << 31,
            u32::MAX - 32,
            u32::MAX - 1,
            u32::MAX,
        ];
        let pick = |rng: &mut rand::rngs::StdRng| {
            if rng.random_bool(0.4) {
                edges[rng.random_range(0..edges.len())]
            } else {
                rng.random()
            }
        };
        for _ in 0..20_000 {
            let (a, b, c, d) = (
                pick(&mut rng),
                pick(&mut rng),
                pick(&mut rng),
                pick(&mut rng),
            );
            let Ok(r) = Rect::new(a, b, c, d) else {
                assert!(a > c || b > d);
                continue;
            };
            let exact = |lo: u32, hi: u32| u128::from(hi - lo) + 1;
            let area = exact(a, c) * exact(b, d);
            assert_eq!(u128::from(r.area()), area.min(u128::from(u64::MAX)));
            let cells = exact(a / 32, c / 32) * exact(b / 32, d / 32);
            assert_eq!(u128::from(r.cells(32)), cells.min(u128::from(u64::MAX)));
            if cells <= 4096 {
                assert_eq!(r.cell_coords(32).count() as u128, cells);
            }
            assert!(r.contains(r.min()) && r.contains(r.max()));
        }
    }
}
