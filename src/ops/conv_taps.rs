//! The forward convolution's batch-reduce members: one (input offset, weight offset) pair per
//! (input-channel block, filter row, filter column), listed per class of output rows.
//!
//! An output row near the top or bottom of a padded image reads some filter rows entirely
//! from the zero border; its members leave those rows out, so no time goes to multiplying
//! zeros (a 3×3 layer on a 7×7 image spends 1/3 of its first and last rows' work there, 9.5%
//! of the layer). Rows that see the same filter rows share one list.

use super::layout::WeightLayout;
use std::ops::Range;

/// The geometry the members depend on.
pub(super) struct TapGeometry {
    /// Input-channel blocks of a group, filter rows and columns.
    pub cbs: usize,
    pub r: usize,
    pub s: usize,
    /// Dilation (rows, columns), vertical stride, top padding, input height.
    pub dilation: (usize, usize),
    pub stride: usize,
    pub pad_top: usize,
    pub h: usize,
    /// Elements between rows and between pixels of the walked input, and between its
    /// channel blocks.
    pub row: usize,
    pub pixel: usize,
    pub plane: usize,
    /// Output rows the walk visits (1 when it flattens the pixels).
    pub rows: usize,
}

/// The members of every class of output rows.
#[derive(Debug, Default)]
pub(super) struct FwdTaps {
    /// Per class: A offsets, B offsets, and members per input-channel block.
    classes: Vec<(Vec<u64>, Vec<u64>, usize)>,
    /// The class of each output row of the walk.
    row_class: Vec<usize>,
}

impl FwdTaps {
    pub fn new(g: &TapGeometry, weights: &WeightLayout) -> FwdTaps {
        let mut taps = FwdTaps::default();
        let mut seen: Vec<Range<usize>> = vec![];
        for p in 0..g.rows {
            // The filter rows whose input row lies inside the image (all of them in the
            // walks that flatten the pixels, which have no border).
            let inside = |ri: usize| {
                let ih = p * g.stride + ri * g.dilation.0;
                ih >= g.pad_top && ih - g.pad_top < g.h
            };
            let lo = (0..g.r).find(|&ri| inside(ri)).unwrap_or(g.r);
            let hi = (lo..g.r).rfind(|&ri| inside(ri)).map_or(lo, |ri| ri + 1);
            let class = match seen.iter().position(|c| *c == (lo..hi)) {
                Some(c) => c,
                None => {
                    seen.push(lo..hi);
                    taps.classes.push(Self::list(g, weights, lo..hi));
                    seen.len() - 1
                }
            };
            taps.row_class.push(class);
        }
        taps
    }

    /// The members over filter rows `rows`, for every input-channel block.
    fn list(g: &TapGeometry, w: &WeightLayout, rows: Range<usize>) -> (Vec<u64>, Vec<u64>, usize) {
        let (mut a, mut b) = (vec![], vec![]);
        for cb in 0..g.cbs {
            for ri in rows.clone() {
                for si in 0..g.s {
                    let at = cb * g.plane + ri * g.dilation.0 * g.row + si * g.dilation.1 * g.pixel;
                    a.push(at as u64);
                    b.push(w.block(0, cb, ri, si) as u64);
                }
            }
        }
        (a, b, rows.len() * g.s)
    }

    /// The A and B offsets of output row `p`'s members over input-channel blocks `cbs`.
    pub fn members(&self, p: usize, cbs: Range<usize>) -> (&[u64], &[u64]) {
        let (a, b, per) = &self.classes[self.row_class[p]];
        let at = cbs.start * per..cbs.end * per;
        (&a[at.clone()], &b[at])
    }
}

#[cfg(test)]
mod tests {
    use super::{FwdTaps, TapGeometry};
    use crate::ops::layout::WeightLayout;

    fn taps(h: usize, r: usize, stride: usize, pad: usize, rows: usize) -> FwdTaps {
        let w = WeightLayout::new(16, 32, (r, 3), 1, (16, 16), false).unwrap();
        let g = TapGeometry {
            cbs: 2,
            r,
            s: 3,
            dilation: (1, 1),
            stride,
            pad_top: pad,
            h,
            row: 100,
            pixel: 16,
            plane: 10_000,
            rows,
        };
        FwdTaps::new(&g, &w)
    }

    #[test]
    fn border_rows_leave_out_the_filter_rows_in_the_padding() {
        // 3×3 on a 7×7 image, padding 1: the first and last output rows read one filter row
        // of zeros each.
        let t = taps(7, 3, 1, 1, 7);
        let counts: Vec<usize> = (0..7).map(|p| t.members(p, 0..2).0.len()).collect();
        assert_eq!(counts, [12, 18, 18, 18, 18, 18, 12]);
        // Row 0 starts at filter row 1 (input row 0) of block 0; block 1 follows.
        let (a, _) = t.members(0, 1..2);
        assert_eq!(a[0], 10_000 + 100);
        assert_eq!(t.classes.len(), 3);
        // Stride 2 (14 → 7): only the first row reaches the top padding.
        let t = taps(14, 3, 2, 1, 7);
        let counts: Vec<usize> = (0..7).map(|p| t.members(p, 0..1).0.len()).collect();
        assert_eq!(counts, [6, 9, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn a_row_wholly_in_the_padding_has_no_members() {
        // A 1-row filter with padding 2 on a 1-row image: rows 0, 1, 3, 4 read only zeros.
        let t = taps(1, 1, 1, 2, 5);
        let counts: Vec<usize> = (0..5).map(|p| t.members(p, 0..2).0.len()).collect();
        assert_eq!(counts, [0, 0, 6, 0, 0]);
    }
}
