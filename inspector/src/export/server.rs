//! The HTTP endpoint (`tiny_http`: synchronous, one thread, a small dependency tree).
//! `GET /metrics` scrapes; `GET /` says where the metrics are; anything else is 404.

use std::io::Write;

use tiny_http::{Header, Method, Response, Server};

use super::encode::{encode, CONTENT_TYPE};
use super::metrics::{self, Families, Value};
use super::targets::{Selection, Targets};
use crate::error::InspectError;

/// A scrape: fresh snapshots of every process, as OpenMetrics text.
pub fn scrape(targets: &mut Targets) -> String {
    let mut f = Families::default();
    let read = targets.scrape();
    f.add(metrics::TARGETS, Vec::new(), Value::Int(read.len() as u64));
    for (snap, events) in &read {
        metrics::add_process(&mut f, snap, events);
    }
    encode(f)
}

fn header(name: &str, value: &str) -> Header {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => h,
        Err(()) => unreachable!("static header {name} is valid"),
    }
}

/// `alloc-inspect export`: binds `listen`, prints the address it serves on (one line on
/// `out`, so that port 0 can be used), then serves scrapes until killed.
pub fn run(listen: &str, selection: Selection, out: &mut dyn Write) -> Result<(), InspectError> {
    let server = Server::http(listen)
        .map_err(|e| InspectError::Io(format!("cannot listen on {listen}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .map_or_else(|| listen.to_string(), |a| a.to_string());
    writeln!(out, "serving http://{addr}/metrics")?;
    out.flush()?;
    let mut targets = Targets::new(slabscope_proto::segment_dir(), selection);
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let response = match (request.method(), path.as_str()) {
            (Method::Get | Method::Head, "/metrics") => Response::from_string(scrape(&mut targets))
                .with_header(header("Content-Type", CONTENT_TYPE)),
            (Method::Get | Method::Head, "/") => Response::from_string(
                "alloc-inspect export: slabscope allocator metrics at /metrics\n",
            )
            .with_header(header("Content-Type", "text/plain; charset=utf-8")),
            _ => Response::from_string("not found\n").with_status_code(404),
        };
        // A client that went away is its own problem; keep serving the others.
        let _ = request.respond(response);
    }
    Ok(())
}
