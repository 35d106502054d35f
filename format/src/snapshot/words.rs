//! The closed sets of words a snapshot carries: what triggered it, and how
//! its stacks were walked. Both are strings in JSON; a word this reader does
//! not know (from a newer writer) is kept as it is rather than refused.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What asked for a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// `heapsnap::snapshot()` or `dump_to_dir` from the program itself.
    #[default]
    Manual,
    /// The baseline automatic dumps write when they start.
    Start,
    /// The dump interval passed.
    Interval,
    /// The live heap passed its last dumped high by the growth margin.
    Growth,
    /// The resident set reached the configured share of the memory limit.
    NearLimit,
    /// SIGUSR1.
    Signal,
    /// An allocation failed.
    Oom,
    /// The process is exiting normally (`main` returned, or `exit`).
    Exit,
    /// SIGTERM or SIGINT, which the program left to end it.
    Terminate,
    /// A word this reader does not know.
    Other(String),
}

impl Trigger {
    /// The word, as in the file and in dump file names.
    pub fn as_str(&self) -> &str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Start => "start",
            Trigger::Interval => "interval",
            Trigger::Growth => "growth",
            Trigger::NearLimit => "near-limit",
            Trigger::Signal => "signal",
            Trigger::Oom => "oom",
            Trigger::Exit => "exit",
            Trigger::Terminate => "terminate",
            Trigger::Other(word) => word,
        }
    }

    /// The trigger a word names.
    pub fn from_word(word: &str) -> Trigger {
        match word {
            "manual" => Trigger::Manual,
            "start" => Trigger::Start,
            "interval" => Trigger::Interval,
            "growth" => Trigger::Growth,
            "near-limit" => Trigger::NearLimit,
            "signal" => Trigger::Signal,
            "oom" => Trigger::Oom,
            "exit" => Trigger::Exit,
            "terminate" => Trigger::Terminate,
            other => Trigger::Other(other.to_owned()),
        }
    }
}

/// How a snapshot's stacks were captured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StackWalk {
    /// Following frame pointers: cheap, needs `-C force-frame-pointers=yes`.
    FramePointers,
    /// Unwinding with DWARF call-frame information (the `backtrace` crate).
    #[default]
    Backtrace,
    /// A word this reader does not know.
    Other(String),
}

impl StackWalk {
    /// The word, as in the file.
    pub fn as_str(&self) -> &str {
        match self {
            StackWalk::FramePointers => "frame-pointers",
            StackWalk::Backtrace => "backtrace",
            StackWalk::Other(word) => word,
        }
    }

    /// The method a word names.
    pub fn from_word(word: &str) -> StackWalk {
        match word {
            "frame-pointers" => StackWalk::FramePointers,
            "backtrace" => StackWalk::Backtrace,
            other => StackWalk::Other(other.to_owned()),
        }
    }
}

macro_rules! word_serde {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the word, so that code that compared strings
        /// keeps working.
        impl PartialEq<str> for $ty {
            fn eq(&self, word: &str) -> bool {
                self.as_str() == word
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let word = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(<$ty>::from_word(&word))
            }
        }
    };
}

word_serde!(Trigger);
word_serde!(StackWalk);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_kept() {
        for trigger in [
            Trigger::Manual,
            Trigger::Start,
            Trigger::Interval,
            Trigger::Growth,
            Trigger::NearLimit,
            Trigger::Signal,
            Trigger::Oom,
            Trigger::Other("deploy".into()),
        ] {
            let json = serde_json::to_string(&trigger).unwrap();
            assert_eq!(json, format!("\"{}\"", trigger.as_str()));
            assert_eq!(serde_json::from_str::<Trigger>(&json).unwrap(), trigger);
        }
        assert_eq!(
            serde_json::from_str::<StackWalk>("\"frame-pointers\"").unwrap(),
            StackWalk::FramePointers
        );
        assert_eq!(
            serde_json::from_str::<StackWalk>("\"lbr\"").unwrap(),
            StackWalk::Other("lbr".into())
        );
    }
}
