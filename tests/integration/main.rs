//! Circlet's integration tests: real HTTP, real SQLite files and PostgreSQL databases, and a
//! fake Slack Web API on loopback. One binary, so it links once.

mod helpers;

mod backfill;
mod capture;
mod circles;
mod cli;
mod connect;
mod crash;
mod deadlines;
mod digest;
mod export;
mod export_streams;
mod forget;
mod forget_access;
mod forget_cli;
mod inbox_writer;
mod ingress;
mod install;
mod install_tokens;
mod isolation;
mod layers;
mod manifest;
mod modal;
mod openapi;
mod ops;
mod outage;
mod privacy;
mod replicas;
mod report;
mod reporting_store;
mod secrets;
mod slack_client;
mod socket_mode;
mod store_suite;
mod tokens;
mod triage;
mod worker;
mod workspace_store;
mod workspaces;
