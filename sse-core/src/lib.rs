//! sse-core
