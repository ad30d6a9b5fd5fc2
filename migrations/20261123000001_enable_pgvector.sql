-- pgvector powers long-term memory (RAG). Enabled first so later migrations can use `vector`.
CREATE EXTENSION IF NOT EXISTS vector;
