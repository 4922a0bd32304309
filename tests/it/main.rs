//! The integration tests: one binary (as ripgrep has), one module per area, and the shared
//! `support` module compiled once. They run against real parts on 127.0.0.1: the moto emulator
//! with its IAM checks on (`scripts/emulator`), an IMDSv2 test server, Debian's docker-registry
//! (`scripts/registry`), and loopback fault servers; `scripts/test` starts what they need.

mod support;

mod allocation;
mod azure;
mod claims;
mod cli;
mod completions;
mod config;
mod docker_helper;
mod doctor;
mod ecr_host;
mod faults;
mod fuzz_regressions;
mod gcp;
mod host_selection;
mod hygiene;
mod kubelet;
mod kubelet_schema;
mod label_glob;
mod leaks;
mod live;
mod load;
mod operator;
mod pattern;
mod policy;
mod providers;
mod pull;
mod scope;
mod security;
mod sources;
mod valohai;
