//! Condensing abi_stable's layout-mismatch reports into one line.
//!
//! `check_layout_compatibility` explains a mismatch by dumping both type
//! layouts, which runs to hundreds of lines. Users need the field that
//! differs and how: `field 'runtime_id': mismatched type (expected u64,
//! found u32)`.

/// The one-line summary of an abi_stable layout error report.
pub fn summarize(report: &str) -> String {
    let lines: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(error_at) = lines.iter().rposition(|l| l.starts_with("Error:")) else {
        return lines.iter().take(3).copied().collect::<Vec<_>>().join(" ");
    };
    let kind = lines[error_at].trim_start_matches("Error:").trim();
    let field = lines[..error_at]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("field_name:"))
        .map(str::trim);
    let after = |label: &str| {
        lines[error_at..]
            .iter()
            .position(|l| *l == label)
            .and_then(|i| lines.get(error_at + i + 1))
            .copied()
    };
    let mut out = match field {
        Some(f) => format!("field '{f}': {kind}"),
        None => kind.to_owned(),
    };
    if let (Some(expected), Some(found)) = (after("Expected:"), after("Found:")) {
        out.push_str(&format!(" (expected {expected}, found {found})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_innermost_field_and_both_types() {
        let report = "Compared <this>:\n--- Type Layout ---\nfield_name:0\ntype:Internals\n\
            field_name:runtime_id\ntype:u32\nLayout of expected type:\ntype:u64\n\
            Error:mismatched type\nExpected:\nu64\nFound:\nu32\n";
        assert_eq!(
            summarize(report),
            "field 'runtime_id': mismatched type (expected u64, found u32)"
        );
    }

    #[test]
    fn falls_back_to_the_first_lines() {
        assert_eq!(
            summarize("something odd\nhappened\n"),
            "something odd happened"
        );
    }
}
