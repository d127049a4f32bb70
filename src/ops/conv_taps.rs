//! The forward convolution's batch-reduce members: one (input offset, weight offset) pair per
//! (input-channel block, filter row, filter column), listed per class of output rows and per
//! group of filter columns.
//!
//! An output pixel near the border of a padded image reads some filter taps entirely from the
//! zero border; the members leave those taps out, so no time goes to multiplying zeros (a 3×3
//! layer on a 7×7 image spends 19% of its work there, half in the first and last rows, half
//! in the first and last columns).
//!
//! - **Rows**: an output row near the top or bottom leaves out the filter rows that read only
//!   the border. Rows that see the same filter rows share one list (a class).
//! - **Columns**: the filter columns that read inside the image for the same output columns
//!   form a group. A row's pixels are then covered by one BRGEMM per group, each over its own
//!   columns, accumulating into the same output tile: the centre group's (every column) first
//!   with beta 0, the trimmed groups' with beta 1 over their columns alone.
//!
//! With no member in the border, the convolution reads its input in place ([`FwdTaps::in_image`]);
//! the A offsets count from the pixel of each list's first filter row and column (its
//! origin), so that they stay non-negative there too.

use super::layout::WeightLayout;
use std::ops::Range;

/// The geometry the members depend on.
pub(super) struct TapGeometry {
    /// Input-channel blocks of a group, filter rows and columns.
    pub cbs: usize,
    pub r: usize,
    pub s: usize,
    /// Dilation (rows, columns), stride (rows, columns), padding (top, left), input height
    /// and width.
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    pub pad: (usize, usize),
    pub h: usize,
    pub w: usize,
    /// Elements between rows and between pixels of the walked input, and between its
    /// channel blocks.
    pub row: usize,
    pub pixel: usize,
    pub plane: usize,
    /// Output rows and columns the walk visits (1 row of every pixel when it flattens them).
    pub rows: usize,
    pub cols: usize,
    /// Whether the filter columns may split into groups (a walk whose rows are one pixel
    /// block each, with f32 output tiles that can take partial sums).
    pub split_cols: bool,
}

/// Filter columns that read inside the image for the same output columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ColGroup {
    /// The output columns (of the walk's row) the group's taps reach.
    pub cols: Range<usize>,
    /// Its filter columns.
    taps: Vec<usize>,
}

/// The members over one class of rows and one group of columns.
#[derive(Debug)]
struct Members {
    /// A offsets (from the origin tap's input pixel) and B offsets.
    a: Vec<u64>,
    b: Vec<u64>,
    /// Members per input-channel block.
    per: usize,
    /// The first filter row and column (the origin of the A offsets).
    origin: (usize, usize),
}

/// The members of every class of output rows and group of filter columns.
#[derive(Debug, Default)]
pub(super) struct FwdTaps {
    /// The column groups; the first reaches every column.
    groups: Vec<ColGroup>,
    /// Per row class, per column group.
    classes: Vec<Vec<Members>>,
    /// The class of each output row of the walk.
    row_class: Vec<usize>,
}

impl FwdTaps {
    pub fn new(g: &TapGeometry, weights: &WeightLayout) -> FwdTaps {
        let mut taps = FwdTaps {
            groups: Self::col_groups(g),
            ..FwdTaps::default()
        };
        let mut seen: Vec<Range<usize>> = vec![];
        for p in 0..g.rows {
            // The filter rows whose input row lies inside the image (all of them in the
            // walks that flatten the pixels, which have no border).
            let inside = |ri: usize| {
                let ih = p * g.stride.0 + ri * g.dilation.0;
                ih >= g.pad.0 && ih - g.pad.0 < g.h
            };
            let lo = (0..g.r).find(|&ri| inside(ri)).unwrap_or(g.r);
            let hi = (lo..g.r).rfind(|&ri| inside(ri)).map_or(lo, |ri| ri + 1);
            let class = match seen.iter().position(|c| *c == (lo..hi)) {
                Some(c) => c,
                None => {
                    seen.push(lo..hi);
                    let lists = (taps.groups.iter())
                        .map(|cg| Self::list(g, weights, lo..hi, &cg.taps))
                        .collect();
                    taps.classes.push(lists);
                    seen.len() - 1
                }
            };
            taps.row_class.push(class);
        }
        taps
    }

    /// Whether every member reads inside the image, so that the input can be read in place
    /// rather than through a zero-bordered copy: the rows always do (each class leaves out
    /// the filter rows in the border), the columns where every group's filter columns stay
    /// inside over the group's output columns.
    pub fn in_image(g: &TapGeometry) -> bool {
        Self::col_groups(g).iter().all(|cg| {
            let last = cg.cols.end.saturating_sub(1);
            cg.taps
                .iter()
                .all(|&si| Self::col_inside(g, cg.cols.start, si) && Self::col_inside(g, last, si))
        })
    }

    /// Whether output column `q` reads inside the image through filter column `si`.
    fn col_inside(g: &TapGeometry, q: usize, si: usize) -> bool {
        let iw = q * g.stride.1 + si * g.dilation.1;
        iw >= g.pad.1 && iw - g.pad.1 < g.w
    }

    /// The column groups: one of every filter column unless `g.split_cols` and some filter
    /// column reaches every output column (it leads; columns that reach none are left out).
    fn col_groups(g: &TapGeometry) -> Vec<ColGroup> {
        let all = ColGroup {
            cols: 0..g.cols,
            taps: (0..g.s).collect(),
        };
        if !g.split_cols {
            return vec![all];
        }
        let inside = |q: usize, si: usize| Self::col_inside(g, q, si);
        let mut groups: Vec<ColGroup> = vec![];
        for si in 0..g.s {
            let lo = (0..g.cols).find(|&q| inside(q, si)).unwrap_or(g.cols);
            let hi = (lo..g.cols).rfind(|&q| inside(q, si)).map_or(lo, |q| q + 1);
            if lo == hi {
                continue;
            }
            match groups.iter_mut().find(|cg| cg.cols == (lo..hi)) {
                Some(cg) => cg.taps.push(si),
                None => groups.push(ColGroup {
                    cols: lo..hi,
                    taps: vec![si],
                }),
            }
        }
        match groups.iter().position(|cg| cg.cols == (0..g.cols)) {
            Some(full) => {
                groups.swap(0, full);
                groups
            }
            None => vec![all],
        }
    }

    /// The members over filter rows `rows` and columns `cols` (ascending), for every
    /// input-channel block, their A offsets from the first row's and column's pixel.
    fn list(g: &TapGeometry, w: &WeightLayout, rows: Range<usize>, cols: &[usize]) -> Members {
        let (mut a, mut b) = (vec![], vec![]);
        let origin = (rows.start, cols.first().copied().unwrap_or(0));
        for cb in 0..g.cbs {
            for ri in rows.clone() {
                for &si in cols {
                    let (dr, ds) = (ri - origin.0, si - origin.1);
                    let at = cb * g.plane + dr * g.dilation.0 * g.row + ds * g.dilation.1 * g.pixel;
                    a.push(at as u64);
                    b.push(w.block(0, cb, ri, si) as u64);
                }
            }
        }
        Members {
            a,
            b,
            per: rows.len() * cols.len(),
            origin,
        }
    }

    /// The column groups; the first reaches every column.
    pub fn groups(&self) -> &[ColGroup] {
        &self.groups
    }

    /// The A and B offsets of output row `p`'s members in column group `group` over
    /// input-channel blocks `cbs` (A's from the pixel of their [`origin`](Self::origin)).
    pub fn members(&self, p: usize, group: usize, cbs: Range<usize>) -> (&[u64], &[u64]) {
        let m = &self.classes[self.row_class[p]][group];
        let at = cbs.start * m.per..cbs.end * m.per;
        (&m.a[at.clone()], &m.b[at])
    }

    /// The filter row and column whose input pixel the A offsets of output row `p` in column
    /// group `group` count from.
    pub fn origin(&self, p: usize, group: usize) -> (usize, usize) {
        self.classes[self.row_class[p]][group].origin
    }
}

#[cfg(test)]
mod tests {
    use super::{ColGroup, FwdTaps, TapGeometry};
    use crate::ops::layout::WeightLayout;

    /// Members of a 2-block, `r`×3 filter over an `h`×`w` image (stride and padding on both
    /// axes), whose walk visits `rows` rows of `cols` pixels.
    fn taps(
        hw: (usize, usize),
        r: usize,
        stride: usize,
        pad: usize,
        rc: (usize, usize),
    ) -> FwdTaps {
        let w = WeightLayout::new(16, 32, (r, 3), 1, (16, 16), false).unwrap();
        let g = TapGeometry {
            cbs: 2,
            r,
            s: 3,
            dilation: (1, 1),
            stride: (stride, stride),
            pad: (pad, pad),
            h: hw.0,
            w: hw.1,
            row: 100,
            pixel: 16,
            plane: 10_000,
            rows: rc.0,
            cols: rc.1,
            split_cols: true,
        };
        FwdTaps::new(&g, &w)
    }

    fn counts(t: &FwdTaps, group: usize, cbs: std::ops::Range<usize>, rows: usize) -> Vec<usize> {
        (0..rows)
            .map(|p| t.members(p, group, cbs.clone()).0.len())
            .collect()
    }

    #[test]
    fn border_rows_leave_out_the_filter_rows_in_the_padding() {
        // 3×3 on a 7×7 image, padding 1: the first and last output rows read one filter row
        // of zeros each; the centre column group holds one filter column.
        let t = taps((7, 7), 3, 1, 1, (7, 7));
        assert_eq!(counts(&t, 0, 0..2, 7), [4, 6, 6, 6, 6, 6, 4]);
        // Row 0 starts at filter row 1 (input row 0), the centre group at filter column 1:
        // the offsets count from that pixel, block 1's one plane on.
        let (a, _) = t.members(0, 0, 1..2);
        assert_eq!(a[0], 10_000);
        assert_eq!(t.origin(0, 0), (1, 1));
        assert_eq!(t.origin(3, 2), (0, 2));
        assert_eq!(t.classes.len(), 3);
        // Stride 2 (14 → 7): only the first row reaches the top padding (the centre group
        // holds filter columns 1 and 2: only the first column reaches the left padding).
        let t = taps((14, 14), 3, 2, 1, (7, 7));
        assert_eq!(counts(&t, 0, 0..1, 7), [4, 6, 6, 6, 6, 6, 6]);
    }

    #[test]
    fn border_columns_leave_out_the_filter_columns_in_the_padding() {
        // 7×7, padding 1: filter column 1 reaches every output column, column 0 all but the
        // first, column 2 all but the last.
        let t = taps((7, 7), 3, 1, 1, (7, 7));
        let groups: Vec<_> = t
            .groups()
            .iter()
            .map(|g| (g.cols.clone(), g.taps.clone()))
            .collect();
        assert_eq!(groups, [(0..7, vec![1]), (1..7, vec![0]), (0..6, vec![2])]);
        // Every tap that reads inside the image is a member exactly once per block and row.
        let per_row: Vec<usize> = (0..3).map(|g| t.members(3, g, 0..2).0.len()).collect();
        assert_eq!(per_row, [6, 6, 6]);
        let (a, _) = t.members(3, 1, 0..1);
        assert_eq!(a[..3], [0, 100, 200]);
        // Stride 2 (6 → 3, padding 1): only the first column reaches the left padding.
        let t = taps((6, 6), 3, 2, 1, (3, 3));
        let groups: Vec<_> = t.groups().iter().map(|g| g.cols.clone()).collect();
        assert_eq!(groups, [0..3, 1..3]);
        assert_eq!(t.groups()[0].taps, [1, 2]);
        // Without column padding nothing splits.
        assert_eq!(taps((14, 16), 3, 1, 0, (14, 14)).groups().len(), 1);
    }

    #[test]
    fn members_read_in_the_image_where_the_columns_split() {
        let g = |w: usize, pad: usize, cols: usize, split_cols: bool| TapGeometry {
            cbs: 1,
            r: 3,
            s: 3,
            dilation: (1, 1),
            stride: (1, 1),
            pad: (pad, pad),
            h: 7,
            w,
            row: 100,
            pixel: 16,
            plane: 10_000,
            rows: 7,
            cols,
            split_cols,
        };
        // Split groups stay inside; one group of every column reads the border.
        assert!(FwdTaps::in_image(&g(7, 1, 7, true)));
        assert!(!FwdTaps::in_image(&g(7, 1, 7, false)));
        // Without column padding every column is inside either way (rows never matter).
        assert!(FwdTaps::in_image(&g(9, 0, 7, false)));
        // No group reaches every column: no split, the border is read.
        assert!(!FwdTaps::in_image(&g(2, 2, 4, true)));
    }

    #[test]
    fn no_split_without_a_column_group_that_reaches_every_column() {
        // 2 wide, padding 2: output columns 0..4, and no filter column reaches all of them.
        let t = taps((5, 2), 3, 1, 2, (5, 4));
        let all = ColGroup {
            cols: 0..4,
            taps: vec![0, 1, 2],
        };
        assert_eq!(t.groups(), [all]);
    }

    #[test]
    fn a_row_wholly_in_the_padding_has_no_members() {
        // A 1-row filter with padding 2 on a 1-row image: rows 0, 1, 3, 4 read only zeros.
        let t = taps((1, 1), 1, 1, 2, (5, 3));
        assert_eq!(t.groups().len(), 1);
        assert_eq!(counts(&t, 0, 0..2, 5), [0, 0, 6, 0, 0]);
    }
}
