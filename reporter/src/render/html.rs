//! The HTML report: one self-contained file (styles, script and data
//! inline; no request leaves the page) that draws a `report::Report`: the
//! leak suspects with a chart of each one's live bytes and its error band,
//! an interactive flamegraph, a sortable top table and a diff between any
//! two snapshots, in light and dark.
//!
//! The page's script (`html/report.js`) draws everything from the data set,
//! embedded as JSON; the numbers are the reporter's, computed here.

use std::io::{self, Write};

use crate::report::Report;

const TEMPLATE: &str = include_str!("html/report.html");
const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// Writes the report as one HTML page.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let data = serde_json::to_string(report).map_err(io::Error::from)?;
    // Inside a script element, only `</script` (and `<!--`) could end or
    // change it: no `<` reaches the page unescaped. `\u003c` reads back as
    // `<` in JSON strings, and JSON has `<` nowhere else.
    let data = data.replace('<', "\\u003c");
    let title = escape(&report.title);
    // One pass over the template: what is put in is never read for
    // markers again (a title may say `{{data}}`).
    let mut rest = TEMPLATE;
    while let Some(start) = rest.find("{{") {
        out.write_all(&rest.as_bytes()[..start])?;
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let value = match &after[..end] {
            "version" => env!("CARGO_PKG_VERSION"),
            "title" => title.as_str(),
            "style" => STYLE,
            "script" => SCRIPT,
            "data" => data.as_str(),
            _ => "",
        };
        out.write_all(value.as_bytes())?;
        rest = after.get(end + 2..).unwrap_or("");
    }
    out.write_all(rest.as_bytes())
}

/// Text for HTML: the five characters that could be markup, escaped, and
/// control characters dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_titles_is_text() {
        assert_eq!(
            escape("<script>\"a\" & 'b'\u{1b}[2J"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;[2J"
        );
    }
}
