//! `hello`: the smallest oxbind plugin worth loading. It shows free
//! functions, keyword arguments with defaults, every scalar type, errors
//! raised as Python exceptions, and a panic that the process survives.

use oxbind::Error;

/// Return the sum of two integers; OverflowError if it does not fit in 64 bits.
#[oxbind::function]
pub fn add(a: i64, b: i64) -> Result<i64, Error> {
    // Plain `a + b` wraps silently in a release build: check instead.
    a.checked_add(b).ok_or_else(|| {
        Error::overflow_error(format!(
            "add(): {a} + {b} does not fit in a 64-bit signed integer"
        ))
    })
}

/// Return a greeting for `name`, ending in `punctuation`.
#[oxbind::function]
pub fn greet(name: &str, #[oxbind(default = "!")] punctuation: &str) -> String {
    format!("Hello, {name}{punctuation}")
}

/// Raise ValueError with the given message.
#[oxbind::function]
pub fn fail(msg: &str) -> Result<(), Error> {
    Err(Error::value_error(msg))
}

/// Panic. The panic is caught and raised as oxbind.PanicError.
#[oxbind::function]
pub fn boom() {
    panic!("boom: the hello plugin panicked on purpose");
}

/// Scale a float, optionally rounding the result.
#[oxbind::function]
pub fn scale(
    x: f64,
    #[oxbind(default = 2.0)] factor: f64,
    #[oxbind(default = false)] round: bool,
) -> f64 {
    let y = x * factor;
    if round {
        y.round()
    } else {
        y
    }
}

/// Reverse a byte string.
#[oxbind::function]
pub fn reverse_bytes(data: &[u8]) -> Vec<u8> {
    data.iter().rev().copied().collect()
}

/// Return the length of `text` in characters, or None when it is None.
#[oxbind::function]
pub fn char_count(text: Option<&str>) -> Option<i64> {
    text.map(|t| t.chars().count() as i64)
}

/// Return `a` unchanged if it fits in a u8, else raise OverflowError.
#[oxbind::function]
pub fn to_u8(a: u8) -> u8 {
    a
}

/// Parse an integer from text; a malformed number raises ValueError.
#[oxbind::function]
pub fn parse_int(
    text: &str,
    #[oxbind(default = None)] fallback: Option<i64>,
) -> Result<i64, Error> {
    match (text.trim().parse::<i64>(), fallback) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(f)) => Ok(f),
        (Err(e), None) => Err(e.into()),
    }
}

oxbind::plugin! {
    name: "hello",
    doc: "Greetings, arithmetic and deliberate failures: the first oxbind plugin.",
    functions: [add, greet, fail, boom, scale, reverse_bytes, char_count, to_u8, parse_int],
}
