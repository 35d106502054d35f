//! How text reports look on a terminal: colour, and lines fitted to its
//! width. Off unless set (by the command line, from `--color`, `NO_COLOR`
//! and whether standard output is a terminal): files, pipes and library
//! callers get plain full lines.

use std::sync::RwLock;

use crate::trend::Verdict;

/// How text is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour and bold with ANSI escapes.
    pub color: bool,
    /// The terminal's width in columns: table rows are cut to it (ending
    /// in `…`) and sentences wrapped; `None` writes full lines.
    pub width: Option<usize>,
}

static STYLE: RwLock<Style> = RwLock::new(Style {
    color: false,
    width: None,
});

/// Sets the style of every text report written from now on.
pub fn set(style: Style) {
    *STYLE.write().unwrap_or_else(|e| e.into_inner()) = style;
}

/// The style set last.
pub fn current() -> Style {
    *STYLE.read().unwrap_or_else(|e| e.into_inner())
}

/// What a piece of text is, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paint {
    /// Headings and table headers: bold.
    Heading,
    /// A leak, a tripped gate, growth: red.
    Bad,
    /// Growth that stopped, a possible leak: yellow.
    Warn,
    /// No leak, a gate passed: green.
    Good,
}

/// `text` painted, when colour is on.
pub(crate) fn paint(text: &str, paint: Paint) -> String {
    current().paint(text, paint)
}

/// `line` cut to the terminal's width, ending in `…` when cut.
pub(crate) fn fit(line: &str) -> String {
    current().fit(line)
}

/// `text` as lines no wider than the terminal, broken between words: the
/// first starting with `first`, the others with `rest` (indents). One line
/// when there is no width.
pub fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
    current().wrap(text, first, rest)
}

impl Style {
    fn paint(self, text: &str, paint: Paint) -> String {
        if !self.color || text.is_empty() {
            return text.to_owned();
        }
        let code = match paint {
            Paint::Heading => "1",
            Paint::Bad => "1;31",
            Paint::Warn => "33",
            Paint::Good => "32",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn fit(self, line: &str) -> String {
        match self.width {
            Some(width) if line.chars().count() > width => {
                let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
                cut.push('…');
                cut
            }
            _ => line.to_owned(),
        }
    }

    fn wrap(self, text: &str, first: &str, rest: &str) -> Vec<String> {
        let Some(width) = self.width else {
            return vec![format!("{first}{text}")];
        };
        let mut lines = Vec::new();
        let mut line = first.to_owned();
        let mut empty = true;
        for word in text.split(' ') {
            let fits = line.chars().count() + 1 + word.chars().count() <= width;
            if !empty && !fits {
                lines.push(std::mem::replace(&mut line, rest.to_owned()));
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        lines.push(line);
        lines
    }
}

/// The colour of a verdict, if it has one.
pub(crate) fn verdict_paint(verdict: Verdict) -> Option<Paint> {
    match verdict {
        Verdict::Growing => Some(Paint::Bad),
        Verdict::Levelled | Verdict::Step => Some(Paint::Warn),
        Verdict::Shrinking => Some(Paint::Good),
        Verdict::Steady => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_and_width_apply_only_when_set() {
        let plain = Style::default();
        assert_eq!(plain.paint("growing", Paint::Bad), "growing");
        assert_eq!(plain.fit(&"x".repeat(300)).len(), 300);
        assert_eq!(plain.wrap("one two", "- ", "  "), ["- one two"]);
        let terminal = Style {
            color: true,
            width: Some(20),
        };
        assert_eq!(
            terminal.paint("growing", Paint::Bad),
            "\x1b[1;31mgrowing\x1b[0m"
        );
        assert_eq!(
            terminal.fit("a line that is far too long"),
            "a line that is far …"
        );
        assert_eq!(
            terminal.wrap("one two three four five six", "1. ", "   "),
            ["1. one two three", "   four five six"]
        );
    }
}
