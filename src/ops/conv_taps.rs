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

/// Members over one class of rows and one group of columns: A offsets, B offsets, and
/// members per input-channel block.
type Members = (Vec<u64>, Vec<u64>, usize);

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
        let inside = |q: usize, si: usize| {
            let iw = q * g.stride.1 + si * g.dilation.1;
            iw >= g.pad.1 && iw - g.pad.1 < g.w
        };
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
        // Splitting pays only where the border columns are a large share of a row: Xeon
        // (model 207), 1 thread, interleaved, split against one call per row: 3×3 on 7×7
        // (9.5% of the taps trimmed) +7–12%; 14×14 (4.8%) level; stride 2 to 7 columns (4.8%)
        // +1–2%; 28×28 and 56×56 (2.4%, 1.2%) 1–5% slower (each group rereads the row's
        // input).
        let kept: usize = groups.iter().map(|cg| cg.cols.len() * cg.taps.len()).sum();
        let full = groups.iter().position(|cg| cg.cols == (0..g.cols));
        match full {
            Some(full) if 12 * (g.cols * g.s - kept) >= g.cols * g.s => {
                groups.swap(0, full);
                groups
            }
            _ => vec![all],
        }
    }

    /// The members over filter rows `rows` and columns `cols`, for every input-channel block.
    fn list(g: &TapGeometry, w: &WeightLayout, rows: Range<usize>, cols: &[usize]) -> Members {
        let (mut a, mut b) = (vec![], vec![]);
        for cb in 0..g.cbs {
            for ri in rows.clone() {
                for &si in cols {
                    let at = cb * g.plane + ri * g.dilation.0 * g.row + si * g.dilation.1 * g.pixel;
                    a.push(at as u64);
                    b.push(w.block(0, cb, ri, si) as u64);
                }
            }
        }
        (a, b, rows.len() * cols.len())
    }

    /// The column groups; the first reaches every column.
    pub fn groups(&self) -> &[ColGroup] {
        &self.groups
    }

    /// The A and B offsets of output row `p`'s members in column group `group` over
    /// input-channel blocks `cbs`.
    pub fn members(&self, p: usize, group: usize, cbs: Range<usize>) -> (&[u64], &[u64]) {
        let (a, b, per) = &self.classes[self.row_class[p]][group];
        let at = cbs.start * per..cbs.end * per;
        (&a[at.clone()], &b[at])
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
        // Row 0 starts at filter row 1 (input row 0) of block 0; block 1 follows.
        let (a, _) = t.members(0, 0, 1..2);
        assert_eq!(a[0], 10_000 + 100 + 16);
        assert_eq!(t.classes.len(), 3);
        // Stride 2 (14 → 7): only the first row reaches the top padding (one group of every
        // column: too few border columns to split for).
        let t = taps((14, 14), 3, 2, 1, (7, 7));
        assert_eq!(counts(&t, 0, 0..1, 7), [6, 9, 9, 9, 9, 9, 9]);
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
        // 14×14: the border columns are too small a share to split for.
        assert_eq!(taps((14, 14), 3, 1, 1, (14, 14)).groups().len(), 1);
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
