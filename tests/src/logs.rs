//! Log lines a test captures, in Helix's production JSON format. Every test shares one process, so
//! one process-wide subscriber writes an event only for a thread holding a capture, into that
//! capture. A scoped subscriber per test (`tracing::subscriber::set_default`) is not reliable
//! beside other tests: while it is the only one alive, a callsite first reached on another thread
//! caches that thread's "no subscriber" answer, and the capturing test later misses its events.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Once};

use serde_json::Value;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::fmt::writer::OptionalWriter;
use tracing_subscriber::layer::SubscriberExt;

thread_local! {
    static CAPTURE: RefCell<Option<CapturedLogs>> = const { RefCell::new(None) };
}

/// Log lines written while the guard from [`capture_logs`] is alive, parsed as JSON.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Ends the capture it came with; it stays on the thread that opened it.
pub struct CaptureGuard {
    previous: Option<CapturedLogs>,
    _this_thread: PhantomData<*const ()>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CAPTURE.try_with(|capture| capture.replace(previous));
    }
}

/// Routes this thread's logs, in Helix's production JSON format, into the returned buffer.
pub fn capture_logs() -> (CapturedLogs, CaptureGuard) {
    install_capturing_subscriber();
    let logs = CapturedLogs::default();
    let previous = CAPTURE.with(|capture| capture.replace(Some(logs.clone())));
    let guard = CaptureGuard {
        previous,
        _this_thread: PhantomData,
    };
    (logs, guard)
}

fn current_capture() -> Option<CapturedLogs> {
    CAPTURE
        .try_with(|capture| capture.borrow().clone())
        .ok()
        .flatten()
}

fn install_capturing_subscriber() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Asked per event (never cached per callsite), so one thread's answer holds for no other.
        let only_while_capturing = dynamic_filter_fn(|_, _| {
            CAPTURE
                .try_with(|capture| capture.borrow().is_some())
                .unwrap_or(false)
        });
        let subscriber = Registry::default().with(only_while_capturing).with(
            helix_shared::telemetry::json_layer(|| OptionalWriter::from(current_capture())),
        );
        tracing::subscriber::set_global_default(subscriber)
            .expect("the system tests install the only global subscriber");
        // A callsite another thread reached between the subscriber's registration and its
        // becoming the global default cached "no subscriber": ask every callsite again.
        tracing::callsite::rebuild_interest_cache();
    });
}
