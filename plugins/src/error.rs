//! The error type plugin functions return, and its Python exception class.

use std::fmt;

pub use oxbind_abi::ErrorKind;

/// An error that becomes a Python exception when it leaves a plugin function.
///
/// Return `Result<T, oxbind::Error>` (or any error type that converts into
/// it) from an `#[oxbind::function]`; `Err` raises `kind` with `message`.
///
/// An error from a Python operation ([`crate::Object`], a
/// [`crate::Callback`]) holds the exception Python raised
/// ([`Error::python_exception`]); its kind is `ErrorKind::RAISED` and its message
/// the exception's text. Returned from a plugin function, it raises that
/// very exception, with its type, attributes and traceback.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    exception: Option<crate::Object>,
}

/// `Result<T, oxbind::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! constructors {
    ($($fn_name:ident => $kind:ident, $py:literal;)*) => {
        impl Error {
            $(
                #[doc = concat!("An error raised as `", $py, "`.")]
                pub fn $fn_name(message: impl Into<String>) -> Self {
                    Self::new(ErrorKind::$kind, message)
                }
            )*
        }
    };
}

constructors! {
    exception => EXCEPTION, "Exception";
    type_error => TYPE_ERROR, "TypeError";
    value_error => VALUE_ERROR, "ValueError";
    key_error => KEY_ERROR, "KeyError";
    index_error => INDEX_ERROR, "IndexError";
    runtime_error => RUNTIME_ERROR, "RuntimeError";
    overflow_error => OVERFLOW_ERROR, "OverflowError";
    zero_division_error => ZERO_DIVISION_ERROR, "ZeroDivisionError";
    not_implemented_error => NOT_IMPLEMENTED_ERROR, "NotImplementedError";
    attribute_error => ATTRIBUTE_ERROR, "AttributeError";
    lookup_error => LOOKUP_ERROR, "LookupError";
    arithmetic_error => ARITHMETIC_ERROR, "ArithmeticError";
    os_error => OS_ERROR, "OSError";
    assertion_error => ASSERTION_ERROR, "AssertionError";
    permission_error => PERMISSION_ERROR, "PermissionError";
    file_not_found_error => FILE_NOT_FOUND_ERROR, "FileNotFoundError";
    timeout_error => TIMEOUT_ERROR, "TimeoutError";
    unicode_error => UNICODE_ERROR, "UnicodeError";
}

impl Error {
    /// An error raised as the exception class `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            exception: None,
        }
    }

    /// The error for an exception Python raised: it keeps the exception,
    /// and its message is the exception's text (`str(exc)`).
    pub fn from_exception(exception: crate::Object) -> Self {
        let message = exception.str().unwrap_or_else(|_| "<exception>".to_owned());
        let type_name = exception
            .get_type()
            .and_then(|t| t.getattr("__name__"))
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "Exception".to_owned());
        Error {
            kind: ErrorKind::RAISED,
            message: if message.is_empty() {
                type_name
            } else {
                format!("{type_name}: {message}")
            },
            exception: Some(exception),
        }
    }

    /// The Python exception this error holds, if it came from Python.
    pub fn python_exception(&self) -> Option<&crate::Object> {
        self.exception.as_ref()
    }

    /// Takes the Python exception out (for the trampoline that raises it).
    pub(crate) fn take_exception(&mut self) -> Option<crate::Object> {
        self.exception.take()
    }

    /// Whether this error is a Python exception that is an instance of
    /// `class` (`isinstance(exc, class)`), for handling an error from a
    /// callback by its type.
    pub fn is_instance(&self, class: &crate::Object) -> bool {
        self.exception
            .as_ref()
            .is_some_and(|e| e.isinstance(class).unwrap_or(false))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.exception {
            None => write!(f, "Error({:?}, {:?})", self.kind, self.message),
            Some(e) => write!(f, "Error({:?}, {:?}, {e:?})", self.kind, self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error::value_error(e.to_string())
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Self {
        Error::value_error(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::FILE_NOT_FOUND_ERROR,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PERMISSION_ERROR,
            std::io::ErrorKind::TimedOut => ErrorKind::TIMEOUT_ERROR,
            _ => ErrorKind::OS_ERROR,
        };
        Error::new(kind, e.to_string())
    }
}
