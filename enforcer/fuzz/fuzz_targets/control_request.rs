//! Fuzzes the control protocol's request side: one request line as the
//! server reads it (any bytes, up to the size limit), parsed into a Request,
//! its targets parsed as addresses/CIDRs, and a parsed request encoded and
//! parsed back to itself. A hostile client must get an error, never a panic.
#![no_main]

use enforcer::control::{
    Request,
    protocol::{MAX_REQUEST_BYTES, encode_line, parse_request},
    target::parse_target,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_REQUEST_BYTES {
        return;
    }
    let Ok(req) = parse_request(data) else {
        return;
    };
    let targets: &[String] = match &req {
        Request::Ban { targets, .. }
        | Request::Unban { targets, .. }
        | Request::Banned { targets, .. } => targets,
        Request::Set { values, .. } => values,
        _ => &[],
    };
    for t in targets {
        if let Ok(net) = parse_target(t) {
            let shown = net.to_string();
            assert_eq!(
                parse_target(&shown).ok(),
                Some(net),
                "{t:?} shows as {shown:?}"
            );
        }
    }
    let line = encode_line(&req);
    assert_eq!(
        parse_request(&line).as_ref(),
        Ok(&req),
        "request does not round-trip"
    );
});
