//! The in-process models, for real: SmolLM2-135M-Instruct through llama.cpp and all-MiniLM-L6-v2
//! through candle, from the files `scripts/models` fetches (`make test` runs it first). The chat
//! model streams: text as it is generated, exact token counts so far, and a dropped stream stops it.

use std::path::PathBuf;
use std::sync::OnceLock;

use helix_shared::chat::{
    Chunk, CompletionInput, FinishReason, Message, Role, ToolChoice, ToolDefinition,
};
use helix_shared::embedding::local::MiniLmEmbedder;
use helix_shared::embedding::{Embedder, cosine};
use helix_shared::engine::llama::{LlamaEngine, LlamaSettings};
use helix_shared::engine::{ChunkStream, Engine, EngineError};
use tokio::sync::OnceCell;

fn models_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    assert!(
        dir.join("smollm2-135m-instruct/model.gguf").is_file(),
        "the models are missing: run scripts/models (make test does)"
    );
    dir
}

fn settings(queue: usize) -> LlamaSettings {
    LlamaSettings {
        model_name: "smollm2-135m-instruct".into(),
        model_path: models_dir().join("smollm2-135m-instruct/model.gguf"),
        threads: 1,
        context_tokens: 1024,
        queue,
    }
}

/// One loaded model for the tests that only read from it.
async fn chat_model() -> &'static LlamaEngine {
    static ENGINE: OnceCell<LlamaEngine> = OnceCell::const_new();
    ENGINE
        .get_or_init(|| async { LlamaEngine::open(settings(8)).await.unwrap() })
        .await
}

fn ask(question: &str, max_tokens: u32) -> CompletionInput {
    CompletionInput {
        messages: vec![
            Message::new(Role::System, "You are a concise assistant."),
            Message::new(Role::User, question),
        ],
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
        ..CompletionInput::default()
    }
}

#[tokio::test]
async fn the_local_model_answers_with_real_token_counts() {
    let engine = chat_model().await;
    assert_eq!(
        (engine.id(), engine.model()),
        ("local", "smollm2-135m-instruct")
    );
    let answer = engine
        .complete(&ask("What is the capital of France?", 24))
        .await
        .unwrap();
    let usage = answer.usage.unwrap();
    assert!(!answer.text.is_empty());
    assert!(
        answer.text.to_lowercase().contains("paris"),
        "a real model knows this: {:?}",
        answer.text
    );
    // The chat template wraps two messages in role markers: more tokens than words asked.
    assert!(usage.input_tokens > 10, "{usage:?}");
    assert!((1..=24).contains(&usage.output_tokens), "{usage:?}");
}

#[tokio::test]
async fn greedy_decoding_repeats_itself_and_max_tokens_is_a_hard_limit() {
    let engine = chat_model().await;
    let first = engine
        .complete(&ask("Name three colours.", 6))
        .await
        .unwrap();
    let second = engine
        .complete(&ask("Name three colours.", 6))
        .await
        .unwrap();
    assert_eq!(first.text, second.text, "temperature 0 is deterministic");
    assert_eq!(first.usage.unwrap().output_tokens, 6);
}

#[tokio::test]
async fn a_stop_sequence_ends_the_answer_just_before_it_with_a_stop_finish() {
    let engine = chat_model().await;
    let whole = engine
        .complete(&ask("Name three colours.", 20))
        .await
        .unwrap();
    // A piece from the middle of the greedy (repeatable) answer, as the stop sequence.
    let chars: Vec<char> = whole.text.chars().collect();
    assert!(chars.len() > 8, "{:?}", whole.text);
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 3].iter().collect();
    let before = &whole.text[..whole.text.find(&stop).unwrap()];
    let input = CompletionInput {
        stop: vec![stop.clone()],
        top_p: Some(0.5),
        ..ask("Name three colours.", 20)
    };

    let mut stream = engine.stream(&input).await.unwrap();
    let mut text = String::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        match chunk.unwrap() {
            Chunk::Text(piece) => text.push_str(&piece),
            Chunk::Finished(reason) => finish = Some(reason),
            _ => {}
        }
    }

    assert_eq!(text.trim(), before.trim(), "stopped at {stop:?}");
    assert!(!text.contains(&stop));
    assert_eq!(finish, Some(FinishReason::Stop));
}

#[tokio::test]
async fn a_forced_tool_call_is_refused_naming_tool_choice() {
    let engine = chat_model().await;
    let input = CompletionInput {
        tools: vec![ToolDefinition {
            name: "clock".into(),
            description: "The time".into(),
            parameters: serde_json::json!({"type": "object", "properties": {}}),
        }],
        tool_choice: ToolChoice::Required,
        ..ask("What time is it?", 5)
    };
    let error = engine.complete(&input).await.unwrap_err();
    assert!(
        matches!(
            error,
            EngineError::Unsupported {
                param: "tool_choice",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_a_context_length_error() {
    let engine = chat_model().await;
    let long = "word ".repeat(2_000);
    let error = engine.complete(&ask(&long, 8)).await.unwrap_err();
    assert_eq!(error, EngineError::ContextLength);
}

#[tokio::test]
async fn a_missing_model_file_is_a_clear_unavailable_error() {
    let error = LlamaEngine::open(LlamaSettings {
        model_path: "/nonexistent/model.gguf".into(),
        ..settings(1)
    })
    .await
    .err()
    .unwrap();
    match error {
        EngineError::LocalModelUnavailable { reason } => {
            assert!(reason.contains("/nonexistent/model.gguf"), "{reason}");
            assert!(reason.contains("scripts/models"), "{reason}");
        }
        other => panic!("expected LocalModelUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_queue_answers_rate_limited_at_once_instead_of_waiting() {
    let engine = LlamaEngine::open(settings(1)).await.unwrap();
    let input = ask("Count from one to twenty.", 40);
    // join! polls all four on this task, so they are enqueued together.
    let (a, b, c, d) = tokio::join!(
        engine.complete(&input),
        engine.complete(&input),
        engine.complete(&input),
        engine.complete(&input)
    );
    let outcomes = [a, b, c, d];
    let limited = outcomes
        .iter()
        .filter(|o| matches!(o, Err(EngineError::RateLimited { .. })))
        .count();
    let answered = outcomes.iter().filter(|o| o.is_ok()).count();
    // One turn runs, one waits in the queue of one; the rest are turned away.
    assert!(limited >= 2, "{outcomes:?}");
    assert_eq!(limited + answered, 4, "{outcomes:?}");
}

/// The text of the stream's next chunk, which must be text.
async fn next_text(stream: &mut Box<dyn ChunkStream>) -> String {
    match stream.next().await {
        Some(Ok(Chunk::Text(text))) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn the_local_model_streams_pieces_of_text_then_the_usage_then_the_finish() {
    let engine = chat_model().await;
    let input = ask("Name three colours.", 24);

    let mut stream = engine.stream(&input).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }

    let (text, end) = chunks.split_at(chunks.len() - 2);
    assert!(
        text.len() > 1,
        "one chunk per token, not one answer: {chunks:?}"
    );
    assert!(
        text.iter().all(|c| matches!(c, Chunk::Text(_))),
        "{chunks:?}"
    );
    let Chunk::Usage(usage) = end[0] else {
        panic!("the usage comes before the finish: {chunks:?}")
    };
    let expected_finish = if usage.output_tokens == 24 {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    assert_eq!(end[1], Chunk::Finished(expected_finish));
    assert_eq!(stream.progress().usage, Some(usage));
    // complete() is the same token loop, collected: the same answer and the same count.
    let streamed: String = text
        .iter()
        .map(|c| match c {
            Chunk::Text(t) => t.as_str(),
            _ => "",
        })
        .collect();
    let whole = engine.complete(&input).await.unwrap();
    assert_eq!(whole.text, streamed.trim());
    assert_eq!(whole.usage, Some(usage));
}

#[tokio::test]
async fn progress_counts_every_token_generated_even_those_not_yet_read() {
    let engine = chat_model().await;
    let question = "Describe the sea in two sentences.";
    let mut stream = engine.stream(&ask(question, 40)).await.unwrap();

    let mut received = String::new();
    for _ in 0..5 {
        received.push_str(&next_text(&mut stream).await);
    }
    // The worker runs ahead of the reader (a bounded channel): let it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let progress = stream.progress();
    let usage = progress.usage.unwrap();
    drop(stream);

    assert!((5..=40).contains(&usage.output_tokens), "{usage:?}");
    assert!(progress.usage_is_current);
    assert_eq!(progress.output_bytes, received.len() as u64);
    // Greedy decoding repeats itself: an answer cut at that many tokens is the text received and
    // whatever was generated behind it, counted alike.
    let cut = engine
        .complete(&ask(question, usage.output_tokens as u32))
        .await
        .unwrap();
    assert!(
        cut.text.starts_with(received.trim()),
        "{cut:?} vs {received:?}"
    );
    assert_eq!(
        cut.usage,
        Some(usage),
        "the prompt and every token generated"
    );
}

#[tokio::test]
async fn dropping_a_local_stream_stops_its_generation_at_the_next_token() {
    let engine = LlamaEngine::open(settings(2)).await.unwrap();
    let input = ask("List the numbers from 1 to 100, separated by commas.", 80);
    // Left alone, this answer runs to its limit: stopping early is the stream's doing.
    let whole = engine.complete(&input).await.unwrap();
    assert_eq!(whole.usage.unwrap().output_tokens, 80, "{:?}", whole.text);
    let before = engine.generated_tokens();

    let mut stream = engine.stream(&input).await.unwrap();
    next_text(&mut stream).await;
    drop(stream);
    // The worker takes turns in order: once this one-token answer is back, the dropped one ended.
    let after = engine.complete(&ask("Say hi.", 1)).await.unwrap();

    let dropped_turn = engine.generated_tokens() - before - after.usage.unwrap().output_tokens;
    assert!(
        dropped_turn <= 20,
        "the dropped turn generated {dropped_turn} of its 80 tokens (at most the 16 pieces its \
         channel holds ahead of the reader, and the one in hand)"
    );
}

async fn embedder() -> &'static MiniLmEmbedder {
    static EMBEDDER: OnceLock<MiniLmEmbedder> = OnceLock::new();
    if let Some(embedder) = EMBEDDER.get() {
        return embedder;
    }
    let opened = MiniLmEmbedder::open("all-minilm-l6-v2", models_dir().join("all-minilm-l6-v2"))
        .await
        .unwrap();
    EMBEDDER.get_or_init(|| opened)
}

#[tokio::test]
async fn similar_sentences_embed_close_and_unrelated_ones_far() {
    let embedder = embedder().await;
    assert_eq!(embedder.dimensions(), 384);
    let texts = [
        "The cat sits on the mat",
        "A cat is sitting on a mat",
        "Quarterly budget report",
    ]
    .map(String::from);
    let answer = embedder.embed(&texts).await.unwrap();
    let [cat, cat_again, budget] = [0, 1, 2].map(|i| answer.vectors[i].as_slice());
    let close = cosine(cat, cat_again);
    let far = cosine(cat, budget);
    assert!(close > 0.9, "cos(cat, cat) = {close}");
    assert!(far.abs() < 0.2, "cos(cat, budget) = {far}");
    for vector in &answer.vectors {
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length, not {norm}");
    }
    // [CLS] + word pieces + [SEP] of each sentence, padding not counted.
    assert_eq!(answer.input_tokens, 8 + 9 + 5, "{}", answer.input_tokens);
}

#[tokio::test]
async fn a_text_embeds_the_same_alone_or_padded_in_a_batch_with_longer_ones() {
    let embedder = embedder().await;
    let short = "Helix keeps budgets exact.".to_owned();
    let long = "A much longer sentence about ledgers, holds, settlements and the reconciliation job that runs every night.".to_owned();
    let alone = embedder.embed(std::slice::from_ref(&short)).await.unwrap();
    let batched = embedder.embed(&[long, short]).await.unwrap();
    let similarity = cosine(&alone.vectors[0], &batched.vectors[1]);
    assert!(
        similarity > 0.9999,
        "padding changed the vector: {similarity}"
    );
}

#[tokio::test]
async fn an_embedder_without_its_files_is_unavailable() {
    let error = MiniLmEmbedder::open("all-minilm-l6-v2", "/nonexistent".into())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, EngineError::LocalModelUnavailable { .. }),
        "{error:?}"
    );
}
