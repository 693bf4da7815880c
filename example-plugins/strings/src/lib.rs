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

/// Repeat `text` `times` times, joined by `sep`.
#[oxbind::function]
pub fn repeat(text: &str, times: u32, #[oxbind(default = "")] sep: &str) -> String {
    vec![text; times as usize].join(sep)
}

oxbind::plugin! {
    name: "strings",
    doc: "Text utilities.",
    functions: [shout, count_words, repeat],
}
