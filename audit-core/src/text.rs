//! Characters that make text look like other text: for the crates that write values an
//! attacker chose (a request's path, a user agent) into events, and print events for people.
//!
//! ```
//! use audit_core::text::is_hidden;
//!
//! assert!(is_hidden('\n') && is_hidden('\u{202e}') && is_hidden('\u{ad}') && is_hidden('\u{e0041}'));
//! assert!(!is_hidden('a') && !is_hidden('é') && !is_hidden('✓') && !is_hidden(' '));
//! ```

/// Whether `c` is invisible or changes how the text around it is displayed, so that two
/// different strings can look the same: control characters (C0, DEL, C1); the line and
/// paragraph separators U+2028 and U+2029 (a line break to many viewers and to JavaScript);
/// Unicode's default-ignorable code points (zero-width characters, the soft hyphen, the
/// bidirectional marks, embeddings, overrides and isolates, variation selectors, Hangul
/// fillers, tag characters, …: characters a viewer shows as nothing); and the other format
/// characters (general category `Cf`: the prepended number signs, the interlinear annotation
/// characters, the Egyptian hieroglyph format controls), as of Unicode 15.1.
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        // The common case, on the request path: one comparison instead of the table below.
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(
            c,
            // Line and paragraph separators.
            '\u{2028}' | '\u{2029}'
            // Default_Ignorable_Code_Point (DerivedCoreProperties.txt).
            | '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
            // The rest of general category Cf.
            | '\u{600}'..='\u{605}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
        )
}

#[cfg(test)]
mod tests {
    use super::is_hidden;

    #[test]
    fn hides_what_displays_as_nothing_or_reorders() {
        for c in [
            '\0',
            '\t',
            '\u{7f}',
            '\u{85}',
            '\u{2028}',
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{ad}',
            '\u{180e}',
            '\u{2061}',
            '\u{206a}',
            '\u{fe0f}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{600}',
            '\u{6dd}',
            '\u{fff9}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{e0100}',
            '\u{1d173}',
            '\u{13430}',
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', 'Z', '0', ' ', '-', 'é', 'ß', 'ж', '中', '✓', '😀', '\u{a0}', '\u{2026}', '\u{fffd}'] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }
}
