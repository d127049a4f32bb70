//! Buffers of any ISA dtype, random fills with special values, and poison.

use tpp::{bf16, f16, DType, In, Out};

/// SplitMix64: small, seedable, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Values that break careless kernels.
pub const SPECIALS: [f64; 10] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1.0e4,
    -1.0e4,
    1.0e-30,
    // Subnormal in f32 and bf16: conversions must not flush it where bits must be kept.
    -1.0e-40,
    -3.5,
];

/// A vector of some dtype.
#[derive(Clone, Debug)]
pub enum Buf {
    F64(Vec<f64>),
    F32(Vec<f32>),
    BF16(Vec<bf16>),
    F16(Vec<f16>),
    I32(Vec<i32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
}

impl Buf {
    /// `len` elements from `f(i)`, converted to `dt` (ints saturate).
    pub fn from_fn(dt: DType, len: usize, mut f: impl FnMut(usize) -> f64) -> Buf {
        match dt {
            DType::F64 => Buf::F64((0..len).map(f).collect()),
            DType::F32 => Buf::F32((0..len).map(|i| f(i) as f32).collect()),
            DType::BF16 => Buf::BF16((0..len).map(|i| bf16::from_f64(f(i))).collect()),
            DType::F16 => Buf::F16((0..len).map(|i| f16::from_f64(f(i))).collect()),
            DType::I32 => Buf::I32((0..len).map(|i| f(i) as i32).collect()),
            DType::I8 => Buf::I8((0..len).map(|i| f(i) as i8).collect()),
            DType::U8 => Buf::U8((0..len).map(|i| f(i) as u8).collect()),
        }
    }

    /// Random values: floats uniform in `[lo, hi)` (with one special value in 16 when
    /// `specials`), integers over their whole range (i32 over ±2¹⁶).
    pub fn random(dt: DType, len: usize, rng: &mut Rng, lo: f64, hi: f64, specials: bool) -> Buf {
        Buf::from_fn(dt, len, |_| match dt {
            DType::I8 => rng.below(256) as f64 - 128.0,
            DType::U8 => rng.below(256) as f64,
            DType::I32 => rng.below(1 << 17) as f64 - 65536.0,
            _ if specials && rng.below(16) == 0 => SPECIALS[rng.below(SPECIALS.len())],
            _ => rng.uniform(lo, hi),
        })
    }

    /// Poison: a NaN with a recognisable payload for floats, a sentinel for integers, so an
    /// element a kernel forgot to write cannot pass for a result.
    pub fn poison(dt: DType, len: usize) -> Buf {
        match dt {
            DType::F64 => Buf::F64(vec![f64::from_bits(0x7ff8_dead_beef_0001); len]),
            DType::F32 => Buf::F32(vec![f32::from_bits(0x7fc0_dead); len]),
            DType::BF16 => Buf::BF16(vec![bf16::from_bits(0x7fde); len]),
            DType::F16 => Buf::F16(vec![f16::from_bits(0x7e5d); len]),
            DType::I32 => Buf::I32(vec![0x5a5a_5a5a; len]),
            DType::I8 => Buf::I8(vec![0x5a; len]),
            DType::U8 => Buf::U8(vec![0xa5; len]),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Buf::F64(_) => DType::F64,
            Buf::F32(_) => DType::F32,
            Buf::BF16(_) => DType::BF16,
            Buf::F16(_) => DType::F16,
            Buf::I32(_) => DType::I32,
            Buf::I8(_) => DType::I8,
            Buf::U8(_) => DType::U8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Buf::F64(v) => v.len(),
            Buf::F32(v) => v.len(),
            Buf::BF16(v) => v.len(),
            Buf::F16(v) => v.len(),
            Buf::I32(v) => v.len(),
            Buf::I8(v) => v.len(),
            Buf::U8(v) => v.len(),
        }
    }

    /// Element `i` as f64.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Buf::F64(v) => v[i],
            Buf::F32(v) => v[i] as f64,
            Buf::BF16(v) => v[i].to_f64(),
            Buf::F16(v) => v[i].to_f64(),
            Buf::I32(v) => v[i] as f64,
            Buf::I8(v) => v[i] as f64,
            Buf::U8(v) => v[i] as f64,
        }
    }

    /// Element `i`'s bits.
    pub fn bits(&self, i: usize) -> u64 {
        match self {
            Buf::F64(v) => v[i].to_bits(),
            Buf::F32(v) => v[i].to_bits() as u64,
            Buf::BF16(v) => v[i].to_bits() as u64,
            Buf::F16(v) => v[i].to_bits() as u64,
            Buf::I32(v) => v[i] as u32 as u64,
            Buf::I8(v) => v[i] as u8 as u64,
            Buf::U8(v) => v[i] as u64,
        }
    }

    pub fn input(&self) -> In<'_> {
        match self {
            Buf::F64(v) => v.into(),
            Buf::F32(v) => v.into(),
            Buf::BF16(v) => v.into(),
            Buf::F16(v) => v.into(),
            Buf::I32(v) => v.into(),
            Buf::I8(v) => v.into(),
            Buf::U8(v) => v.into(),
        }
    }

    pub fn output(&mut self) -> Out<'_> {
        match self {
            Buf::F64(v) => v.into(),
            Buf::F32(v) => v.into(),
            Buf::BF16(v) => v.into(),
            Buf::F16(v) => v.into(),
            Buf::I32(v) => v.into(),
            Buf::I8(v) => v.into(),
            Buf::U8(v) => v.into(),
        }
    }
}

/// A poisoned bitmask of `bytes` bytes.
pub fn poison_mask(bytes: usize) -> Vec<u8> {
    vec![0xa5; bytes]
}
