//! sse-hyper
