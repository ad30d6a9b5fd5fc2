//! Conversations kept on the server, as rules free of I/O: a title from the first question, which
//! old messages a long history leaves out, and the message tree (versions, the active branch).

pub mod context;
pub mod settings;
pub mod tree;

pub use settings::ConversationSettings;

/// The most characters a title may have (the database checks it too).
pub const MAX_TITLE_CHARS: usize = 200;
/// How long a title made from the first question may be.
pub const AUTO_TITLE_CHARS: usize = 60;
/// What a conversation is called when its first message has no words.
pub const UNTITLED: &str = "New conversation";

/// Stored statuses of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// The provider finished the answer.
    Complete,
    /// The person stopped it (or left): what was generated, charged as far as it got.
    Stopped,
    /// The provider broke off or the deadline passed: what was generated, charged.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Stopped => "stopped",
            MessageStatus::Failed => "failed",
        }
    }
}

/// The first question, whitespace collapsed, cut on a word boundary to at most `max_chars`
/// characters (with an ellipsis when cut); a word longer than that is cut inside.
pub fn title_from(text: &str, max_chars: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return UNTITLED.to_owned();
    }
    let whole = words.join(" ");
    if whole.chars().count() <= max_chars {
        return whole;
    }
    // Room for the ellipsis.
    let room = max_chars.saturating_sub(1).max(1);
    let mut title = String::new();
    for word in &words {
        let with = title.chars().count() + usize::from(!title.is_empty()) + word.chars().count();
        if with > room {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        title = words[0].chars().take(room).collect();
    }
    let title = title.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '?');
    format!("{title}…")
}

/// A title a person typed: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, no control characters.
pub fn parse_title(raw: &str) -> Result<String, &'static str> {
    let title = raw.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err("title: must be 1 to 200 characters");
    }
    if title.chars().any(char::is_control) {
        return Err("title: must not contain control characters");
    }
    Ok(title.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_question_is_its_own_title() {
        assert_eq!(title_from("  What is   Rust? ", 60), "What is Rust?");
    }

    #[test]
    fn a_long_question_is_cut_on_a_word_boundary_with_an_ellipsis() {
        let title = title_from(
            "How do I keep my sourdough starter alive while I am away for two weeks?",
            40,
        );
        assert_eq!(title, "How do I keep my sourdough starter…");
        assert!(title.chars().count() <= 40);
    }

    #[test]
    fn one_endless_word_is_cut_inside_it() {
        let title = title_from(&"a".repeat(100), 10);
        assert_eq!(title, format!("{}…", "a".repeat(9)));
    }

    #[test]
    fn a_question_of_no_words_gets_the_default_title() {
        assert_eq!(title_from(" \n\t ", 60), UNTITLED);
    }

    #[test]
    fn typed_titles_are_trimmed_and_bounded() {
        assert_eq!(parse_title("  Trip plans ").unwrap(), "Trip plans");
        assert!(parse_title("   ").is_err());
        assert!(parse_title(&"x".repeat(201)).is_err());
        assert!(parse_title(&"é".repeat(200)).is_ok());
        assert!(parse_title("a\u{0}b").is_err());
        assert!(parse_title("a\nb").is_err());
    }
}
