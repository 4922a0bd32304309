//! The SDK log filter: keeps the AWS SDK's TRACE events out of the logs while a provider
//! talks to AWS.
//!
//! At TRACE level the SDK's orchestrator logs whole HTTP responses and deserialized outputs:
//! the ECR authorization token, and the secret keys in IMDS and STS replies, in the clear. A
//! credential crate must not leak through its dependencies' logs, whatever level its embedder
//! turns on, so every AWS call a provider makes runs under a dispatcher that forwards everything
//! to the embedder's own, except TRACE events from the SDK's crates. DEBUG and above still pass,
//! so the SDK's request and retry diagnostics stay visible.

use std::future::Future;

use tracing::instrument::{WithDispatch, WithSubscriber};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;

/// Runs `future` with the SDK's TRACE events dropped (see the module doc).
pub(crate) fn without_sdk_trace<F: Future>(future: F) -> WithDispatch<F> {
    let inner = tracing::dispatcher::get_default(Dispatch::clone);
    future.with_subscriber(Dispatch::new(WithoutSdkTrace { inner }))
}

/// Whether an event may carry a raw AWS response.
fn is_sdk_trace(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::TRACE
        && [
            "aws_smithy_",
            "aws_sdk_",
            "aws_config",
            "aws_credential_types",
            "aws_runtime",
        ]
        .iter()
        .any(|prefix| meta.target().starts_with(prefix))
}

struct WithoutSdkTrace {
    inner: Dispatch,
}

impl Subscriber for WithoutSdkTrace {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_sdk_trace(meta) {
            // Other dispatchers may still want it: ask `enabled` each time.
            Interest::sometimes()
        } else {
            self.inner.register_callsite(meta)
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        !is_sdk_trace(meta) && self.inner.enabled(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values)
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows)
    }

    fn event(&self, event: &Event<'_>) {
        // An interest cached as "always" elsewhere skips `enabled`: filter here too.
        if !is_sdk_trace(event.metadata()) {
            self.inner.event(event)
        }
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span)
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span)
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> Current {
        self.inner.current_span()
    }
}
