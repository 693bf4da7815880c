//! `strings`: small text utilities.

/// Return `text` in upper case, followed by an exclamation mark.
#[oxbind::function]
pub fn shout(text: &str) -> String {
    format!("{}!", text.to_uppercase())
}

/// Count the whitespace-separated words in `text`.
#[oxbind::function]
pub fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Repeat `text` `times` times, joined by `sep`; OverflowError if the
/// result would be too long to build.
#[oxbind::function]
pub fn repeat(
    text: &str,
    times: u32,
    #[oxbind(default = "")] sep: &str,
) -> Result<String, oxbind::Error> {
    let n = times as usize;
    // Size the result first, with checked arithmetic, and ask for the memory
    // without aborting: an allocation failure ends a Rust process, where
    // Python code expects an exception.
    let len = text
        .len()
        .checked_mul(n)
        .zip(sep.len().checked_mul(n.saturating_sub(1)))
        .and_then(|(texts, seps)| texts.checked_add(seps))
        .filter(|&len| len <= isize::MAX as usize);
    let too_long = || {
        oxbind::Error::overflow_error(format!(
            "repeat(): {times} copies of {} bytes joined by {} bytes is too long a string",
            text.len(),
            sep.len()
        ))
    };
    let len = len.ok_or_else(too_long)?;
    let mut out = String::new();
    out.try_reserve_exact(len).map_err(|_| too_long())?;
    if len > 0 {
        for i in 0..n {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(text);
        }
    }
    Ok(out)
}

oxbind::plugin! {
    name: "strings",
    doc: "Text utilities.",
    functions: [shout, count_words, repeat],
}
