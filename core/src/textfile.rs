//! The shape the adapters' saved text files share (the lease file, the
//! plan-progress file): a header line, then one record per line, where `#`
//! starts a comment and blank lines are ignored. Each format renders and
//! parses single lines; this puts the lines together and takes them apart.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// `header`, a newline, then `write` for every item.
pub(crate) fn render<T>(
    header: &str,
    items: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut String, T) -> fmt::Result,
) -> String {
    let mut text = String::from(header);
    text.push('\n');
    for item in items {
        // Writing to a String cannot fail.
        let _ = write(&mut text, item);
    }
    text
}

/// Every line of `text` through `parse`: the records, and the 1-based
/// number and error of each line that does not parse (a line parsing to
/// `None`, blank or a comment, is neither).
pub(crate) fn parse<T, E>(
    text: &str,
    mut parse: impl FnMut(&str) -> Result<Option<T>, E>,
) -> (Vec<T>, Vec<(usize, E)>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse(line) {
            Ok(record) => records.extend(record),
            Err(e) => bad.push((i + 1, e)),
        }
    }
    (records, bad)
}
