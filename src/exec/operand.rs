//! Typed views of caller memory for the safe calls: a slice with its dtype and length, so one
//! call signature serves every dtype combination and is checked against the descriptor.

use crate::error::{Error, Result};
use crate::isa::{DType, Element};
use std::ffi::c_void;
use std::marker::PhantomData;

/// A read-only operand: any `&[T]` of an ISA element type converts into it.
#[derive(Clone, Copy, Debug)]
pub struct In<'a> {
    ptr: *const c_void,
    len: usize,
    dtype: DType,
    _borrow: PhantomData<&'a [u8]>,
}

/// A writable operand: any `&mut [T]` of an ISA element type converts into it.
#[derive(Debug)]
pub struct Out<'a> {
    ptr: *mut c_void,
    len: usize,
    dtype: DType,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a, T: Element> From<&'a [T]> for In<'a> {
    fn from(s: &'a [T]) -> Self {
        In {
            ptr: s.as_ptr().cast(),
            len: s.len(),
            dtype: T::DTYPE,
            _borrow: PhantomData,
        }
    }
}

impl<'a, T: Element> From<&'a Vec<T>> for In<'a> {
    fn from(s: &'a Vec<T>) -> Self {
        In::from(s.as_slice())
    }
}

impl<'a, T: Element> From<&'a mut [T]> for Out<'a> {
    fn from(s: &'a mut [T]) -> Self {
        Out {
            ptr: s.as_mut_ptr().cast(),
            len: s.len(),
            dtype: T::DTYPE,
            _borrow: PhantomData,
        }
    }
}

impl<'a, T: Element> From<&'a mut Vec<T>> for Out<'a> {
    fn from(s: &'a mut Vec<T>) -> Self {
        Out::from(s.as_mut_slice())
    }
}

impl<'a> In<'a> {
    /// Elements in the slice.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True for an empty slice.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The slice's dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The address (never dereferenced through this: for prefetch hints).
    pub(crate) fn as_ptr(&self) -> *const c_void {
        self.ptr
    }

    /// The pointer, after checking dtype and that at least `need` elements are present.
    pub(crate) fn check(
        &self,
        name: &'static str,
        dtype: DType,
        need: usize,
    ) -> Result<*const c_void> {
        check(name, self.dtype, self.len, dtype, need)?;
        Ok(self.ptr)
    }
}

impl<'a> Out<'a> {
    /// Elements in the slice.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True for an empty slice.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The slice's dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub(crate) fn check(
        &self,
        name: &'static str,
        dtype: DType,
        need: usize,
    ) -> Result<*mut c_void> {
        check(name, self.dtype, self.len, dtype, need)?;
        Ok(self.ptr)
    }
}

fn check(name: &'static str, got: DType, len: usize, want: DType, need: usize) -> Result<()> {
    if got != want {
        return Err(Error::operand(
            name,
            format!("dtype is {got}, the descriptor says {want}"),
        ));
    }
    if len < need {
        return Err(Error::operand(
            name,
            format!("holds {len} elements, the descriptor needs at least {need}"),
        ));
    }
    Ok(())
}

/// Checks a bitmask slice against the bytes the descriptor needs.
pub(crate) fn check_mask(name: &'static str, len: usize, need: usize) -> Result<()> {
    if len < need {
        return Err(Error::operand(
            name,
            format!("bitmask holds {len} bytes, the descriptor needs at least {need}"),
        ));
    }
    Ok(())
}

/// Pairs "the op uses it" with "the caller passed it".
pub(crate) fn presence<T>(
    name: &'static str,
    used: bool,
    given: Option<T>,
    why: &str,
) -> Result<Option<T>> {
    match (used, given) {
        (true, Some(x)) => Ok(Some(x)),
        (false, None) => Ok(None),
        (true, None) => Err(Error::operand(name, format!("{why} needs it; pass it"))),
        (false, Some(_)) => Err(Error::operand(name, format!("{why} does not use it"))),
    }
}
