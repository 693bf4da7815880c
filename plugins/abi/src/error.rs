//! Errors that travel from a plugin back to the shim.

use abi_stable::{std_types::RString, StableAbi};

/// Which Python exception class a plugin error becomes.
///
/// A transparent integer so that a kind unknown to an older shim is read
/// safely; the shim maps unknown kinds to `RuntimeError`.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, PartialEq, Eq, Debug)]
pub struct ErrorKind(pub u32);

impl ErrorKind {
    pub const EXCEPTION: Self = Self(0);
    pub const TYPE_ERROR: Self = Self(1);
    pub const VALUE_ERROR: Self = Self(2);
    pub const KEY_ERROR: Self = Self(3);
    pub const INDEX_ERROR: Self = Self(4);
    pub const RUNTIME_ERROR: Self = Self(5);
    pub const OVERFLOW_ERROR: Self = Self(6);
    pub const ZERO_DIVISION_ERROR: Self = Self(7);
    pub const NOT_IMPLEMENTED_ERROR: Self = Self(8);
    pub const ATTRIBUTE_ERROR: Self = Self(9);
    pub const LOOKUP_ERROR: Self = Self(10);
    pub const ARITHMETIC_ERROR: Self = Self(11);
    pub const OS_ERROR: Self = Self(12);
    pub const ASSERTION_ERROR: Self = Self(13);
    pub const PERMISSION_ERROR: Self = Self(14);
    pub const FILE_NOT_FOUND_ERROR: Self = Self(15);
    pub const TIMEOUT_ERROR: Self = Self(16);
    pub const UNICODE_ERROR: Self = Self(17);
    /// Since ABI 0.1.4: a Python exception object, raised as it is (its
    /// type, value and traceback unchanged). The plugin handed it to the
    /// shim with `HostApi::set_raised` on this thread just before returning
    /// the record; the message is its text, used only if it went missing.
    pub const RAISED: Self = Self(18);
}

/// An error raised by plugin code: the exception class and its message.
#[repr(C)]
#[derive(StableAbi, Debug, PartialEq)]
pub struct ErrorRecord {
    pub kind: ErrorKind,
    pub message: RString,
}
