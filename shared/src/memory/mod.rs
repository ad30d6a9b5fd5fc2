//! Long-term memory: documents chunked ([`chunking`]), embedded with the deployment's one model
//! and metered like model calls (`pipeline::embedding`), stored and searched in Postgres + pgvector
//! ([`store`], [`schema`]), and placed into a turn's context ([`context_block`]).

pub mod chunking;
pub mod schema;
pub mod settings;
pub mod store;

use serde::Serialize;

/// One retrieved chunk, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub doc_id: String,
    pub title: Option<String>,
    pub chunk_index: i32,
    pub content: String,
    /// Cosine similarity, 1 = same direction.
    pub score: f64,
}

/// The retrieved chunks as one clearly delimited block the model can tell apart from the
/// conversation, each chunk labelled with its document id.
pub fn context_block(hits: &[Hit]) -> String {
    let mut block = String::from(
        "Context retrieved from the user's memory. Use it when it helps answer; it may be incomplete or irrelevant. Cite a document as [doc_id] when you use it.\n<memory>\n",
    );
    for hit in hits {
        block.push_str(&format!(
            "<chunk doc_id=\"{}\" score=\"{:.3}\">\n{}\n</chunk>\n",
            hit.doc_id, hit.score, hit.content
        ));
    }
    block.push_str("</memory>");
    block
}

/// The distinct document ids of the hits, in rank order.
pub fn doc_ids(hits: &[Hit]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for hit in hits {
        if !ids.contains(&hit.doc_id) {
            ids.push(hit.doc_id.clone());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(doc_id: &str, content: &str) -> Hit {
        Hit {
            doc_id: doc_id.into(),
            title: None,
            chunk_index: 0,
            content: content.into(),
            score: 0.5,
        }
    }

    #[test]
    fn the_context_block_delimits_each_chunk_with_its_document() {
        let block = context_block(&[hit("handbook", "Leave is 25 days."), hit("faq", "Ask HR.")]);
        assert!(
            block.contains(
                "<chunk doc_id=\"handbook\" score=\"0.500\">\nLeave is 25 days.\n</chunk>"
            )
        );
        assert!(block.contains("<chunk doc_id=\"faq\""));
        assert!(block.ends_with("</memory>"));
    }

    #[test]
    fn doc_ids_are_distinct_and_keep_their_rank() {
        let hits = [hit("b", "1"), hit("a", "2"), hit("b", "3")];
        assert_eq!(doc_ids(&hits), vec!["b", "a"]);
    }
}
