//! Cuts a document into overlapping chunks an embedding model can take whole. Pure: text in,
//! byte spans out, with tokens counted by whatever tokenizer the caller passes.
//!
//! Chunks end on sentence or paragraph boundaries where they can; a sentence too long for one
//! chunk is cut between words, and a word too long between characters. Every chunk is a slice of
//! the original text, so nothing is rewritten, and every non-blank character is in some chunk.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// The most tokens in one chunk.
    pub max_tokens: usize,
    /// Roughly how many tokens of a chunk's end the next chunk repeats, so a fact cut by a
    /// boundary is whole in one of them. Whole sentences only: it may be less, never more.
    pub overlap_tokens: usize,
}

/// One chunk: `text[start..end]` (byte offsets) and its token count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub tokens: usize,
}

impl Chunk {
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }
}

/// A run of text that is never split unless it alone is over the limit.
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: usize,
}

pub fn chunk(text: &str, limits: ChunkLimits, count: &dyn Fn(&str) -> usize) -> Vec<Chunk> {
    let max = limits.max_tokens.max(1);
    let units: Vec<Unit> = sentences(text)
        .into_iter()
        .flat_map(|(start, end)| fit(text, start, end, max, count))
        .collect();
    pack(&units, max, limits.overlap_tokens.min(max / 2))
}

/// Greedily fills chunks with whole units; each next chunk starts with the last units of the one
/// before that fit in `overlap` tokens (and always moves forward).
fn pack(units: &[Unit], max: usize, overlap: usize) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut first = 0;
    while first < units.len() {
        let mut last = first;
        let mut tokens = units[first].tokens;
        while last + 1 < units.len() && tokens + units[last + 1].tokens <= max {
            last += 1;
            tokens += units[last].tokens;
        }
        chunks.push(Chunk {
            start: units[first].start,
            end: units[last].end,
            tokens,
        });
        if last + 1 == units.len() {
            break;
        }
        first = overlap_start(
            units,
            first,
            last,
            overlap.min(max.saturating_sub(units[last + 1].tokens)),
        );
    }
    chunks
}

/// The first unit of the next chunk: as far back from `last` as `overlap` tokens allow, but after
/// `first`. The caller shrinks `overlap` so the next chunk still has room for the next new unit.
fn overlap_start(units: &[Unit], first: usize, last: usize, overlap: usize) -> usize {
    let mut start = last + 1;
    let mut repeated = 0;
    while start > first + 1 && repeated + units[start - 1].tokens <= overlap {
        start -= 1;
        repeated += units[start].tokens;
    }
    start
}

/// Sentence spans, trimmed: a sentence ends after `.`, `!` or `?` followed by whitespace, and at
/// every blank line (a paragraph).
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let sentence_end = matches!(c, '.' | '!' | '?') && next.is_some_and(char::is_whitespace);
        let paragraph_end = c == '\n'
            && text[at + 1..]
                .trim_start_matches([' ', '\t', '\r'])
                .starts_with('\n');
        if sentence_end || paragraph_end {
            let end = at + c.len_utf8();
            push_trimmed(text, start, end, &mut spans);
            start = end;
        }
    }
    push_trimmed(text, start, text.len(), &mut spans);
    spans
}

fn push_trimmed(text: &str, start: usize, end: usize, spans: &mut Vec<(usize, usize)>) {
    let slice = &text[start..end];
    let leading = slice.len() - slice.trim_start().len();
    let trailing = slice.len() - slice.trim_end().len();
    if leading + trailing < slice.len() {
        spans.push((start + leading, end - trailing));
    }
}

/// The span as one unit if it fits, else cut between words, else between characters.
fn fit(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<Unit> {
    let tokens = count(&text[start..end]);
    if tokens <= max {
        return vec![Unit { start, end, tokens }];
    }
    let words = words(text, start, end);
    if words.len() > 1 {
        let mut units = Vec::new();
        let mut run_start = words[0].0;
        let mut run_end = words[0].0;
        for &(word_start, word_end) in &words {
            if run_end > run_start && count(&text[run_start..word_end]) > max {
                units.extend(fit(text, run_start, run_end, max, count));
                run_start = word_start;
            }
            run_end = word_end;
        }
        units.extend(fit(text, run_start, run_end, max, count));
        return units;
    }
    split_characters(text, start, end, max, count)
}

fn words(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut word_start = None;
    for (offset, c) in text[start..end].char_indices() {
        let at = start + offset;
        match (c.is_whitespace(), word_start) {
            (false, None) => word_start = Some(at),
            (true, Some(begin)) => {
                words.push((begin, at));
                word_start = None;
            }
            _ => {}
        }
    }
    if let Some(begin) = word_start {
        words.push((begin, end));
    }
    words
}

/// A single "word" over the limit (a URL, a hash, a table row without spaces): the longest
/// prefixes that fit, one after another.
fn split_characters(
    text: &str,
    start: usize,
    end: usize,
    max: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut piece_start = start;
    let mut piece_end = start;
    for (offset, c) in text[start..end].char_indices() {
        let next_end = start + offset + c.len_utf8();
        if piece_end > piece_start && count(&text[piece_start..next_end]) > max {
            units.push(Unit {
                start: piece_start,
                end: piece_end,
                tokens: count(&text[piece_start..piece_end]),
            });
            piece_start = piece_end;
        }
        piece_end = next_end;
    }
    if piece_end > piece_start {
        units.push(Unit {
            start: piece_start,
            end: piece_end,
            tokens: count(&text[piece_start..piece_end]),
        });
    }
    units
}

/// A tokenizer-free upper bound for sizing chunks: one token per 3 bytes (English averages about
/// 4 bytes per token for BPE and word-piece tokenizers), never less than one per word.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3).max(text.split_whitespace().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_count(text: &str) -> usize {
        text.split_whitespace().count()
    }

    const LIMITS: ChunkLimits = ChunkLimits {
        max_tokens: 12,
        overlap_tokens: 4,
    };

    fn texts<'a>(source: &'a str, chunks: &[Chunk]) -> Vec<&'a str> {
        chunks.iter().map(|c| c.text(source)).collect()
    }

    #[test]
    fn short_text_is_one_chunk_and_blank_text_none() {
        let text = "  Helix keeps budgets exact.  ";
        let chunks = chunk(text, LIMITS, &words_count);
        assert_eq!(texts(text, &chunks), vec!["Helix keeps budgets exact."]);
        assert_eq!(chunks[0].tokens, 4);
        assert!(chunk(" \n\n\t ", LIMITS, &words_count).is_empty());
    }

    #[test]
    fn chunks_end_on_sentence_boundaries_and_repeat_the_last_sentence() {
        let text = "One two three four five. Six seven eight nine. Ten eleven twelve thirteen. Fourteen fifteen.";
        let chunks = chunk(text, LIMITS, &words_count);
        assert_eq!(
            texts(text, &chunks),
            vec![
                "One two three four five. Six seven eight nine.",
                "Six seven eight nine. Ten eleven twelve thirteen. Fourteen fifteen.",
            ]
        );
    }

    #[test]
    fn paragraphs_are_boundaries_even_without_punctuation() {
        let text = "Heading one\n\nBody text here\n  \nMore";
        let spans = sentences(text);
        let pieces: Vec<&str> = spans.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(pieces, vec!["Heading one", "Body text here", "More"]);
    }

    #[test]
    fn an_overlong_sentence_is_cut_between_words_and_an_overlong_word_between_characters() {
        let sentence = (1..=30)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk(&sentence, LIMITS, &words_count);
        assert!(chunks.iter().all(|c| c.tokens <= 12), "{chunks:?}");
        let word = "x".repeat(100);
        let by_bytes = |s: &str| s.len().div_ceil(10);
        let chunks = chunk(&word, LIMITS, &by_bytes);
        assert!(
            chunks
                .iter()
                .all(|c| c.tokens <= 12 && !c.text(&word).is_empty())
        );
        assert_eq!(chunks.first().map(|c| c.start), Some(0));
        assert_eq!(chunks.last().map(|c| c.end), Some(100));
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let text = "Zürich ist schön. Ça va très bien! 東京は大きい。日本語の文章です。";
        let chunks = chunk(
            text,
            ChunkLimits {
                max_tokens: 3,
                overlap_tokens: 1,
            },
            &estimate_tokens,
        );
        // Slicing would have panicked on a byte inside a character.
        assert!(chunks.iter().all(|c| !c.text(text).is_empty()));
    }

    /// A pseudo-random document of sentences and paragraphs, the same for the same seed.
    fn document(seed: u64) -> String {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut text = String::new();
        for _ in 0..rng.usize(1..60) {
            let words = rng.usize(1..25);
            for w in 0..words {
                if w > 0 {
                    text.push(' ');
                }
                let len = rng.usize(1..14);
                text.extend((0..len).map(|_| rng.alphanumeric()));
            }
            text.push_str([". ", "! ", "? ", ".\n\n", ", "][rng.usize(0..5)]);
        }
        text
    }

    #[test]
    fn properties_hold_for_many_documents_no_text_lost_overlap_kept_limits_honoured() {
        for seed in 0..300 {
            let text = document(seed);
            let limits = ChunkLimits {
                max_tokens: 5 + (seed as usize % 40),
                overlap_tokens: seed as usize % 10,
            };
            let chunks = chunk(&text, limits, &words_count);

            // Limits: every chunk within max_tokens, counted by the same tokenizer.
            for c in &chunks {
                assert!(c.tokens <= limits.max_tokens, "seed {seed}: {c:?}");
                assert_eq!(c.tokens, words_count(c.text(&text)), "seed {seed}");
            }
            // No text lost: every non-blank character lies inside some chunk.
            for (at, ch) in text.char_indices() {
                if !ch.is_whitespace() {
                    assert!(
                        chunks.iter().any(|c| c.start <= at && at < c.end),
                        "seed {seed}: {ch:?} at {at} is in no chunk"
                    );
                }
            }
            // Order and progress: each chunk starts after the previous one started and ends
            // after it ended; overlap never exceeds what was asked (plus one unit's cut).
            for pair in chunks.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                assert!(
                    b.start > a.start && b.end > a.end,
                    "seed {seed}: {a:?} {b:?}"
                );
                if b.start < a.end {
                    let repeated = words_count(&text[b.start..a.end]);
                    assert!(
                        repeated <= limits.overlap_tokens.min(limits.max_tokens / 2),
                        "seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlap_is_kept_when_whole_sentences_fit_in_it() {
        let text = "a b. c d. e f. g h. i j. k l. m n. o p.";
        let chunks = chunk(
            text,
            ChunkLimits {
                max_tokens: 6,
                overlap_tokens: 2,
            },
            &words_count,
        );
        for pair in chunks.windows(2) {
            assert!(
                pair[1].start < pair[0].end,
                "consecutive chunks share a sentence: {chunks:?}"
            );
        }
    }

    #[test]
    fn the_estimate_is_an_upper_bound_on_words() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a b c d"), 4);
        assert_eq!(estimate_tokens("abcdefghi"), 3);
    }
}
