//! The one error type of the crate: every failure says what was wrong and what is allowed.

use std::fmt;

/// What went wrong, with enough context to fix the call without reading the source.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A descriptor field (or a combination of fields) is outside what the ISA defines.
    InvalidDescriptor {
        /// The primitive family (`gemm`, `unary`, ...).
        family: &'static str,
        /// The field at fault, e.g. `lda` or `epilogue.bias`.
        field: &'static str,
        /// The value that was given.
        value: String,
        /// What the ISA allows there.
        allowed: String,
    },
    /// An operand handed to a safe call does not fit the descriptor (length, dtype, index).
    InvalidOperand {
        /// The operand at fault, e.g. `a`, `c`, `relu_mask`, `indices`.
        operand: &'static str,
        /// What was wrong with it.
        problem: String,
    },
    /// A backend was asked for explicitly and cannot generate this descriptor.
    Unsupported {
        /// The backend that declined.
        backend: &'static str,
        /// The kernel that was asked for.
        kernel: String,
    },
    /// The CUDA device layer (feature `cuda`): no driver library, no GPU, or a failed driver
    /// call.
    Device {
        /// What was attempted, e.g. `load the driver`, `cuModuleLoadData`.
        call: &'static str,
        /// What went wrong.
        problem: String,
    },
}

impl Error {
    pub(crate) fn desc(
        family: &'static str,
        field: &'static str,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Error {
        Error::InvalidDescriptor {
            family,
            field,
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    pub(crate) fn operand(operand: &'static str, problem: impl Into<String>) -> Error {
        Error::InvalidOperand {
            operand,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidDescriptor {
                family,
                field,
                value,
                allowed,
            } => write!(
                f,
                "invalid {family} descriptor: {field} = {value}; allowed: {allowed}"
            ),
            Error::InvalidOperand { operand, problem } => {
                write!(f, "invalid operand `{operand}`: {problem}")
            }
            Error::Unsupported { backend, kernel } => {
                write!(f, "backend `{backend}` cannot generate {kernel}")
            }
            Error::Device { call, problem } => write!(f, "CUDA: {call}: {problem}"),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
