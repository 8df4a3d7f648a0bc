//! sse-warp
