//! Text from the network made inert for a terminal: room names, user and device ids, display
//! names, focus URLs and the server's reasons are chosen by others, and a terminal obeys the
//! control characters and escape sequences in what it prints (colours, titles, cursor moves,
//! clearing the screen, hyperlinks) and shows bidi overrides as reordered text.
//!
//! [`inert`] removes escape sequences whole (CSI, OSC, DCS and the other strings, and the short
//! two-character ones), the remaining C0 and C1 controls and DEL, and the bidi embedding,
//! override and isolate characters; line breaks and tabs become spaces so that one value stays
//! on one line. JSON output needs none of this: serde escapes it, and scripts get it exactly.

use std::borrow::Cow;
use std::iter::Peekable;
use std::str::Chars;

const ESC: char = '\x1b';
const BEL: char = '\x07';
/// The C1 String Terminator.
const ST: char = '\u{9c}';

/// Whether `c` changes what a terminal does or how it orders text.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The bidi embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` without control characters, escape sequences or bidi controls; borrowed when it had
/// none.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => skip_escape(&mut chars),
            // C1 CSI.
            '\u{9b}' => skip_csi(&mut chars),
            // C1 DCS, SOS, OSC, PM and APC: strings up to a terminator.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Skips what follows an ESC: a CSI, a control string, or a short escape sequence.
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_string(chars);
        }
        Some(_) => {
            // Intermediate bytes, then one final byte.
            while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
            chars.next_if(|c| matches!(c, '0'..='~'));
        }
        None => {}
    }
}

/// Skips a control sequence's parameter and intermediate bytes and its final byte.
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars.next_if(|c| matches!(c, '0'..='?')).is_some() {}
    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// Skips a control string (OSC, DCS, ...) up to and including its terminator: BEL, ST, or
/// ESC `\`. An unterminated string runs to the end of the text.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | ST => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed_untouched() {
        for text in [
            "Standup",
            "Café ☕ 会议",
            "@alice:example.org",
            "",
            "a [31m b",
        ] {
            assert!(
                matches!(inert(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn escape_sequences_go_whole() {
        assert_eq!(inert("\x1b[31mRed\x1b[0m room"), "Red room");
        assert_eq!(inert("a\x1b[2J\x1b[1;1Hb"), "ab");
        assert_eq!(inert("x\x1b[?25ly"), "xy");
        // Window titles and hyperlinks, ended by BEL or by ST.
        assert_eq!(inert("\x1b]0;pwned\x07Room"), "Room");
        assert_eq!(
            inert("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"),
            "click"
        );
        assert_eq!(inert("\x1bPq#0;2;0;0;0\x1b\\after"), "after");
        // Short sequences: reset, charset selection, keypad mode.
        assert_eq!(inert("\x1bcA\x1b(0B\x1b=C"), "ABC");
        // C1 forms of the same.
        assert_eq!(inert("\u{9b}31mRed"), "Red");
        assert_eq!(inert("\u{9d}0;title\u{9c}Room"), "Room");
        // Unterminated: nothing after the opener reaches the terminal.
        assert_eq!(inert("Room\x1b]0;forever"), "Room");
        assert_eq!(inert("Room\x1b"), "Room");
        assert_eq!(inert("Room\x1b["), "Room");
    }

    #[test]
    fn controls_and_bidi_overrides_are_dropped_and_lines_join() {
        assert_eq!(
            inert("bell\x07 back\x08space\x7f del"),
            "bell backspace del"
        );
        assert_eq!(inert("two\nlines\r\nhere\ttab"), "two lines here tab");
        assert_eq!(inert("c1\u{85}next\u{8d}x"), "c1 nextx");
        assert_eq!(inert("nul\0byte"), "nulbyte");
        assert_eq!(
            inert("invoice\u{202e}fdp.exe\u{202c} \u{2066}iso\u{2069}"),
            "invoicefdp.exe iso"
        );
        assert_eq!(inert("para\u{2029}graph"), "para graph");
        // What remains never holds a control or an override.
        let hostile: String = (0u32..0x300)
            .chain(0x2000..0x2070)
            .filter_map(char::from_u32)
            .collect();
        assert!(!inert(&hostile).chars().any(is_unsafe));
    }
}
