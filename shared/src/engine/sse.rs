//! A decoder for `text/event-stream` (the HTML Living Standard's server-sent events), fed the body
//! in whatever chunks the network delivers: OpenAI's and Anthropic's streaming APIs speak it.
//! Lines may end in `\n`, `\r\n` or `\r`, and a chunk may split a line or a UTF-8 character.

/// One dispatched event: its `event:` name (empty when the stream gave none) and its `data:`
/// lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting this one belongs to that line end.
    after_cr: bool,
    event: String,
    data: Vec<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, returning every event it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&String::from_utf8_lossy(&line)) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// The stream ended: an event still being built is discarded, as the standard says.
    pub fn finish(&mut self) -> bool {
        let pending = !self.data.is_empty() || !self.line.is_empty();
        *self = Self::default();
        pending
    }

    fn line_ended(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment, e.g. a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {} // `id`, `retry` and unknown fields mean nothing to a provider client
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_are_dispatched_at_a_blank_line_with_their_name_and_data() {
        let mut decoder = SseDecoder::new();
        let events = decoder.feed(b"event: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(
            events,
            [event("message_start", "{\"a\":1}"), event("", "[DONE]")]
        );
    }

    #[test]
    fn a_chunk_may_split_a_line_a_line_end_or_a_utf8_character() {
        let body = "data: héllo\r\n\r\ndata: wörld\r\n\r\n".as_bytes();
        for split in 0..body.len() {
            let mut decoder = SseDecoder::new();
            let mut events = decoder.feed(&body[..split]);
            events.extend(decoder.feed(&body[split..]));
            assert_eq!(
                events,
                [event("", "héllo"), event("", "wörld")],
                "split at {split}"
            );
        }
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored_and_data_lines_join_with_newlines() {
        let mut decoder = SseDecoder::new();
        let events = decoder.feed(b": keep-alive\nid: 7\nretry: 100\ndata:a\ndata: b\n\n");
        assert_eq!(events, [event("", "a\nb")]);
    }

    #[test]
    fn carriage_returns_alone_end_lines() {
        let mut decoder = SseDecoder::new();
        assert_eq!(decoder.feed(b"data: x\r\r"), [event("", "x")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_an_unfinished_one_is_reported() {
        let mut decoder = SseDecoder::new();
        assert!(decoder.feed(b"event: ping\n\n").is_empty());
        assert!(decoder.feed(b"data: cut off").is_empty());
        assert!(decoder.finish(), "the stream ended inside an event");
        assert!(!decoder.finish());
    }
}
