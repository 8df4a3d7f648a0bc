//! sse-axum
