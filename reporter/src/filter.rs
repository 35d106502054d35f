//! Keeping only the sites whose stacks pass through given code, or leaving
//! them out, as pprof's `-focus` and `-ignore` do: a site is kept when a
//! frame of its stack matches `focus` (if given) and none matches `ignore`.
//! A frame matches when its function name or its source file does.

use regex::Regex;

use crate::load::Loaded;
use crate::view;

/// Which sites a report keeps.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    focus: Option<Regex>,
    ignore: Option<Regex>,
}

impl Filter {
    /// A filter from the two expressions (`None` for no restriction).
    pub fn new(focus: Option<&str>, ignore: Option<&str>) -> Result<Filter, regex::Error> {
        Ok(Filter {
            focus: focus.map(Regex::new).transpose()?,
            ignore: ignore.map(Regex::new).transpose()?,
        })
    }

    /// True when it keeps every site.
    pub fn keeps_all(&self) -> bool {
        self.focus.is_none() && self.ignore.is_none()
    }

    /// Leaves out of `loaded` the sites the filter does not keep. The
    /// heap-wide totals stay the process's, so shares are still of the
    /// whole heap.
    pub fn apply(&self, loaded: &mut Loaded) {
        if self.keeps_all() {
            return;
        }
        let snapshot = &mut loaded.snapshot;
        let matches = |re: &Regex| -> Vec<bool> {
            snapshot
                .frames
                .iter()
                .map(|f| {
                    re.is_match(&view::function_name(f))
                        || f.file.as_deref().is_some_and(|file| re.is_match(file))
                })
                .collect()
        };
        let focus = self.focus.as_ref().map(matches);
        let ignore = self.ignore.as_ref().map(matches);
        let stacks = &snapshot.stacks;
        let any = |hits: &[bool], stack: u32| {
            stacks.get(stack as usize).is_some_and(|s| {
                s.iter()
                    .any(|&f| hits.get(f as usize).copied().unwrap_or(false))
            })
        };
        snapshot.sites.retain(|site| {
            focus.as_deref().is_none_or(|hits| any(hits, site.stack))
                && !ignore.as_deref().is_some_and(|hits| any(hits, site.stack))
        });
    }
}
