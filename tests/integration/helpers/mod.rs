//! Shared test fixtures.

pub mod app;
pub mod circle;
pub mod db;
pub mod metrics;
pub mod samples;
pub mod serve;

pub use app::{SECRET, TestApp};
pub use db::{Backend, TestDb};
